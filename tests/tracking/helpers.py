"""Test helpers: a real `mlflow server` (127.0.0.1, free port, sqlite in tmp, stopped by
PID), candidate metrics in the evaluation's shape, and a project folder layout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.storage.servers import BIN, Server, free_port, http_ok


@contextmanager
def mlflow_server(root: Path) -> Iterator[str]:
    """Start `mlflow server --workers 1` (sqlite backend and artifact root in `root`);
    yield its URL; stop it by PID."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
    cmd += ["--default-artifact-root", str(root / "artifacts")]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = Server("mlflow server", cmd, env, root / "mlflow.log", port)
    server.start(ready=lambda: http_ok(f"http://127.0.0.1:{port}/health"), timeout=120)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def serve_env(uri: str) -> dict[str, str]:
    """Environment for `mlflow models serve`: this venv first on PATH (uvicorn), the URI."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": uri,
    }


def good_metrics(family: str, **changes) -> dict:
    """Candidate metrics in the evaluation's metrics/<family>.json shape (a passing set)."""
    return {
        "fid": 5.0,
        "kid": 0.01,
        "precision": 0.8,
        "recall": 0.6,
        "coverage": 0.7,
        "classes_covered": 4,
        "num_classes": 4,
        "n_samples": 40,
        "seed": 1234,
        "feature_extractor": "domain",
        "family": family,
        "reference": {"floor": {"fid": 0.5}, "noise": {"fid": 300.0}},
        **changes,
    }


def project(root: Path, prepared: Path, checkpoints: dict[str, Path]) -> Path:
    """A project folder as the CLI sees it: data/prepared, models/<family>/checkpoint.pt."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "prepared").symlink_to(prepared)
    for family, ckpt in checkpoints.items():
        (root / "models" / family).mkdir(parents=True, exist_ok=True)
        (root / "models" / family / "checkpoint.pt").symlink_to(ckpt)
    (root / "metrics").mkdir(exist_ok=True)
    return root


def write_metrics(root: Path, family: str, **changes) -> dict:
    import json

    from genforge.tracking.runs import file_sha256
    from genforge.training.checkpoint import load_checkpoint

    ckpt = root / "models" / family / "checkpoint.pt"  # bound to it, as the evaluation does
    bound = {}
    if ckpt.is_file():
        bound = {"checkpoint_sha256": file_sha256(ckpt), "checkpoint_step": 0}
        bound["checkpoint_step"] = int(load_checkpoint(ckpt)["step"])
    metrics = good_metrics(family, **{**bound, **changes})
    (root / "metrics" / f"{family}.json").write_text(json.dumps(metrics))
    return metrics
