"""Where every logged number comes from: tracking URI, names and lineage tags.

Lineage tags (on the pipeline run and on every family run): the git commit, the DVC
data hash (the md5 `dvc.lock` records for data/prepared, else data/raw, else the
content hash of the prepared data), the params hash, the feature extractor, the sample
count, the seeds and, inside a Prefect flow, the flow-run id.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genforge.config import DataConfig, Params

PARENT_ENV = "GENFORGE_PARENT_RUN_ID"  # set by the Prefect flow: family runs nest under it
URI_ENV = "MLFLOW_TRACKING_URI"
LOCAL_SCHEMES = ("sqlite", "file", "")  # stores whose artifacts go under tracking.artifacts


def tracking_uri(params: Params, root: Path) -> str:
    """`MLFLOW_TRACKING_URI` if set, else `tracking.uri`; relative sqlite/file paths are
    made absolute against `root` (the repository), so any working directory logs to the
    same store."""
    uri = os.environ.get(URI_ENV) or params.tracking.uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(Path(root) / uri[len('sqlite:///') :]).resolve()}"
    if "://" not in uri:  # a plain directory: MLflow's file store
        return (Path(root) / uri).resolve().as_uri()
    return uri


def mlflow_client(uri: str):
    """`mlflow.MlflowClient(uri)`, safe when several processes open a new local store.

    MLflow creates and migrates a sqlite store when a client first opens it; two
    processes doing that at once (two `genforge train` on a fresh checkout, the
    benchmarks' parallel families) race in its migrations and one dies with "table
    latest_metrics already exists". Opening a local sqlite file therefore holds a file
    lock beside it (`<db>.lock`) until the store is ready; later opens wait only while
    another process is creating it.
    """
    import mlflow

    if not uri.startswith("sqlite:///"):
        return mlflow.MlflowClient(uri)
    db = Path(uri[len("sqlite:///") :])
    db.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(Path(f"{db}.lock")):
        return mlflow.MlflowClient(uri)


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on file `path` (created if missing) across processes."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# The userinfo of any URI in a text: up to the last "@" before the path, so an unescaped
# "@" in a password is hidden too.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s]*)@")


def redact(text: str) -> str:
    """`text` with every URI's password (or lone token) replaced by ***, the user kept:
    http://alice:pw@host -> http://alice:***@host, https://token@host -> https://***@host."""

    def hide(m: re.Match) -> str:
        user, colon, _ = m["userinfo"].partition(":")
        return f"{m['scheme']}{user}:***@" if colon else f"{m['scheme']}***@"

    return _USERINFO.sub(hide, text)


def scheme(uri: str) -> str:
    return uri.split(":", 1)[0] if "://" in uri else ""


def artifact_location(params: Params, uri: str, experiment: str, root: Path) -> str | None:
    """Where a new experiment keeps its artifacts: S3 when storage.backend is s3, else
    tracking.artifacts/<experiment> for local stores, else the tracking server's choice."""
    if params.storage.backend == "s3":
        from genforge.storage.s3 import mlflow_artifact_location

        return mlflow_artifact_location(params.storage, experiment)
    if scheme(uri) in LOCAL_SCHEMES:
        return (Path(root) / params.tracking.artifacts / experiment).resolve().as_uri()
    return None


def dataset_name(data: DataConfig) -> str:
    """The dataset's name: its source, plus the file or folder name for path sources."""
    name = data.source if not data.path else f"{data.source}-{Path(data.path).stem}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def experiment_name(params: Params) -> str:
    return f"{params.tracking.experiment_prefix}-{dataset_name(params.data)}"


def registered_model_name(params: Params) -> str:
    return f"{params.tracking.registered_model_prefix}-{dataset_name(params.data)}"


def translation_experiment_name(params: Params) -> str:
    """The translation model's own experiment (translation.name: its two domains)."""
    return f"{params.tracking.experiment_prefix}-{params.translation.name}"


def translation_model_name(params: Params) -> str:
    """The translation model's own registered model, e.g. genforge-digits2typeset."""
    return f"{params.tracking.registered_model_prefix}-{params.translation.name}"


def params_hash(params: Params) -> str:
    """sha256 of the validated params (every section, canonical JSON), 16 hex digits."""
    blob = json.dumps(params.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def git_commit(root: Path) -> str | None:
    """HEAD of the git work tree at `root`, or None outside git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def dvc_data_hash(root: Path, meta: dict[str, Any]) -> str:
    """The DVC version of the data: dvc.lock's md5 of data/prepared (or data/raw), else
    the prepared data's own content hash (no DVC, e.g. a test's temporary folder)."""
    from genforge.dvc_repo import lock_hash
    from genforge.layout import FOLDERS

    found = lock_hash(FOLDERS["prepared"], root) or lock_hash(FOLDERS["raw"], root)
    return found or meta["sha256"]


def prefect_flow_run_id() -> str | None:
    """The Prefect flow-run id when running inside (or started by) a Prefect flow."""
    found = os.environ.get("PREFECT__FLOW_RUN_ID")
    if not found and "prefect" in sys.modules:  # never import Prefect just to ask
        from prefect.runtime import flow_run

        found = flow_run.id
    return str(found) if found else None


def lineage_tags(params: Params, meta: dict[str, Any], root: Path) -> dict[str, str]:
    """The tags every run of this pipeline carries (values are strings; None dropped)."""
    tags = {
        "dataset": dataset_name(params.data),
        "git_commit": git_commit(root),
        "dvc_data_hash": dvc_data_hash(root, meta),
        "data_sha256": meta["sha256"],
        "params_hash": params_hash(params),
        "feature_extractor": params.evaluate.feature_extractor,
        "n_samples": params.evaluate.n_samples,
        "seed": params.train.seed,
        "eval_seed": params.evaluate.seed,
        "prefect_flow_run_id": prefect_flow_run_id(),
    }
    if tags["git_commit"]:
        tags["mlflow.source.git.commit"] = tags["git_commit"]  # the UI links it
    return {k: str(v) for k, v in tags.items() if v is not None}


def pipeline_key(tags: dict[str, str]) -> str:
    """One pipeline run = one code version, params and data: `dvc repro` stages started
    separately find their common parent run by this key."""
    blob = "|".join(tags.get(k, "") for k in ("git_commit", "params_hash", "data_sha256"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def flatten(section: dict[str, Any], prefix: str) -> dict[str, str]:
    """{"a": {"b": 1}} -> {"<prefix>.a.b": "1"}: params as MLflow wants them."""
    out: dict[str, str] = {}
    for key, value in section.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = json.dumps(value) if isinstance(value, list | type(None)) else str(value)
    return out


def family_params(params: Params, family: str) -> dict[str, str]:
    """The flattened params one family's run depends on (data, model, train, evaluate)."""
    dumped = params.model_dump(mode="json")
    return {
        **flatten(dumped["data"], "data"),
        **flatten(dumped["models"][family], f"models.{family}"),
        **flatten(dumped["train"], "train"),
        **flatten(dumped["evaluate"], "evaluate"),
    }
