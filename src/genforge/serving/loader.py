"""Load one registered version for serving, and refuse it unless it is sound.

A version is served only when its artifact downloads, its checkpoint matches the
registry's `checkpoint_sha256` tag (when the version has one), MLflow loads it from
code with pickle deserialization disabled, and a smoke sample comes out well-formed.
Any failure is a `LoadError` naming the version and the step that failed; the caller
keeps serving what it had.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from genforge.errors import GenforgeError
from genforge.layout import CHECKPOINT
from genforge.tracking.runs import file_sha256  # the digest the registry records

DIGEST_TAG = "checkpoint_sha256"  # set by the registry when it registers a version
NO_PICKLES = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


class LoadError(GenforgeError):
    """A registered version that cannot be served (download, digest, load or smoke test)."""


@dataclass
class Served:
    """A loaded version: the pyfunc model MLflow serves and the genforge model inside it."""

    name: str
    version: str
    tags: dict[str, str]
    pyfunc: Any  # mlflow.pyfunc.PyFuncModel
    model: Any  # genforge GenerativeModel (EMA weights, eval mode, CPU)
    max_n: int
    checkpoint_sha256: str
    loaded_at: str
    files: Any = field(repr=False, default=None)  # the downloaded model, kept while served

    @property
    def family(self) -> str:
        return self.tags.get("family") or self.model.family

    def describe(self) -> dict[str, Any]:
        """What /health and the page say about this version."""
        return {
            "version": self.version,
            "family": self.family,
            "data_hash": self.tags.get("data_hash"),
            "checkpoint_sha256": self.checkpoint_sha256,
            "checkpoint_verified": DIGEST_TAG in self.tags,
            "loaded_at": self.loaded_at,
            "metrics": json.loads(self.tags.get("metrics", "{}")),
            "gate_passed": self.tags.get("gate.passed") == "true",
            "gate_forced": self.tags.get("gate.forced") == "true",
        }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _checkpoint(root: Path, where: str) -> Path:
    found = sorted(Path(root).rglob(CHECKPOINT))
    if len(found) != 1:
        raise LoadError(f"{where}: expected one {CHECKPOINT} in the model, found {len(found)}")
    return found[0]


def smoke_test(served: Served) -> None:
    """Finite weights and a well-formed two-image answer through the pyfunc model."""
    model = served.model
    bad = [
        n for n, p in model.state_dict().items() if p.is_floating_point() and not p.isfinite().all()
    ]
    if bad:
        raise LoadError(f"v{served.version}: non-finite weights in {', '.join(bad[:3])}")
    row = {"n": min(2, served.max_n), "seed": 0, "label": 0 if model.cfg.conditional else None}
    out = served.pyfunc.predict([row])
    if len(out) != row["n"] or list(out["shape"].iloc[0]) != list(model.image_shape):
        raise LoadError(
            f"v{served.version}: smoke sample gave {len(out)} rows of shape "
            f"{list(out['shape'].iloc[0]) if len(out) else None}, expected {row['n']} of "
            f"{list(model.image_shape)}"
        )


def load_version(client, name: str, version: str) -> Served:
    """Download, verify, load and smoke-test `models:/<name>/<version>`."""
    import mlflow

    where = f"{name} v{version}"
    os.environ[NO_PICKLES] = "false"  # the served model loads from code, never a pickle
    try:
        mv = client.get_model_version(name, str(version))
    except Exception as exc:
        raise LoadError(f"{where}: not in the registry ({exc.__class__.__name__})") from None
    files = tempfile.TemporaryDirectory(prefix=f"genforge-serve-v{version}-")
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=files.name
        )
        ckpt = _checkpoint(Path(local), where)
        digest = file_sha256(ckpt)
        expected = mv.tags.get(DIGEST_TAG)
        if expected and expected != digest:
            raise LoadError(
                f"{where}: checkpoint.pt has sha256 {digest[:16]}..., the registry's "
                f"{DIGEST_TAG} tag says {expected[:16]}...: refusing to serve it"
            )
        with torch.no_grad():
            pyfunc = mlflow.pyfunc.load_model(local)
            sampler = pyfunc.unwrap_python_model()
            served = Served(
                name,
                str(version),
                dict(mv.tags),
                pyfunc,
                sampler.model,
                sampler.max_n,
                digest,
                now(),
                files,
            )
            smoke_test(served)
    except LoadError:
        files.cleanup()
        raise
    except Exception as exc:
        files.cleanup()
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise LoadError(f"{where}: cannot be loaded ({exc.__class__.__name__}: {first})") from None
    return served
