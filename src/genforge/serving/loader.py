"""Load one registered version for serving, and refuse it unless it is sound.

A version is served only when its artifact downloads, its checkpoint matches the
registry's `checkpoint_sha256` tag (when the version has one), MLflow loads it from
code with pickle deserialization disabled, it is the kind of model the server serves
(a sampler, `generation`, or a translator, `translation`: the loaded model says which,
and a `kind` tag must agree), and a smoke answer comes out well-formed: two samples,
or two images translated both ways.
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
from genforge.layout import CHECKPOINT, TRANSLATION
from genforge.tracking.runs import file_sha256  # the digest the registry records
from genforge.translation.cyclegan import DIRECTIONS

DIGEST_TAG = "checkpoint_sha256"  # set by the registry when it registers a version
NO_PICKLES = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
TRANSLATION_KIND = "translation"  # ImageTranslator.kind; samplers are "generation"


class LoadError(GenforgeError):
    """A registered version that cannot be served (download, digest, load or smoke test)."""


@dataclass
class Served:
    """A loaded version: the pyfunc model MLflow serves and the genforge model inside it."""

    name: str
    version: str
    tags: dict[str, str]
    pyfunc: Any  # mlflow.pyfunc.PyFuncModel
    model: Any  # GenerativeModel (EMA weights) or CycleGan; eval mode, CPU
    max_n: int
    checkpoint_sha256: str
    loaded_at: str
    files: Any = field(repr=False, default=None)  # the downloaded model, kept while served

    @property
    def python_model(self) -> Any:  # ImageSampler or ImageTranslator
        return self.pyfunc.unwrap_python_model()

    @property
    def kind(self) -> str:
        return getattr(self.python_model, "kind", "generation")  # older samplers: no attribute

    @property
    def family(self) -> str:
        return self.tags.get("family") or getattr(self.model, "family", TRANSLATION)

    def describe(self) -> dict[str, Any]:
        """What /health and the page say about this version."""
        extra = {}
        if self.kind == TRANSLATION_KIND:  # the registry's names of the two directions
            names = json.loads(self.tags.get("directions") or "{}")
            extra = {
                "directions": {d: names.get(d) for d in DIRECTIONS},  # None: unnamed
                "image_shape": self.python_model.image_shape,
            }
        return {
            "version": self.version,
            "kind": self.kind,
            "family": self.family,
            "data_hash": self.tags.get("data_hash"),
            "checkpoint_sha256": self.checkpoint_sha256,
            "checkpoint_verified": DIGEST_TAG in self.tags,
            "loaded_at": self.loaded_at,
            "metrics": json.loads(self.tags.get("metrics", "{}")),
            "gate_passed": self.tags.get("gate.passed") == "true",
            "gate_forced": self.tags.get("gate.forced") == "true",
            **extra,
        }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _checkpoint(root: Path, where: str) -> Path:
    found = sorted(Path(root).rglob(CHECKPOINT))
    if len(found) != 1:
        raise LoadError(f"{where}: expected one {CHECKPOINT} in the model, found {len(found)}")
    return found[0]


def smoke_test(served: Served) -> None:
    """Finite weights and a well-formed answer through the pyfunc model."""
    model = served.model
    bad = [
        n for n, p in model.state_dict().items() if p.is_floating_point() and not p.isfinite().all()
    ]
    if bad:
        raise LoadError(f"v{served.version}: non-finite weights in {', '.join(bad[:3])}")
    if served.kind == TRANSLATION_KIND:
        smoke_translate(served)
        return
    row = {"n": min(2, served.max_n), "seed": 0, "label": 0 if model.cfg.conditional else None}
    out = served.pyfunc.predict([row])
    if len(out) != row["n"] or list(out["shape"].iloc[0]) != list(model.image_shape):
        raise LoadError(
            f"v{served.version}: smoke sample gave {len(out)} rows of shape "
            f"{list(out['shape'].iloc[0]) if len(out) else None}, expected {row['n']} of "
            f"{list(model.image_shape)}"
        )


def smoke_translate(served: Served) -> None:
    """Two synthetic images translated each way come back as two images of the model's shape."""
    from genforge.serving.pyfunc_translation import example_png

    shape = served.python_model.image_shape
    n = min(2, served.max_n)
    for direction in DIRECTIONS:
        rows = [{"image": example_png(shape, k), "direction": direction} for k in range(n)]
        out = served.pyfunc.predict(rows)
        shapes = [list(s) for s in out["shape"]] if len(out) else []
        if len(out) != n or any(s != shape for s in shapes):
            raise LoadError(
                f"v{served.version}: smoke translation {direction} gave {len(out)} rows of "
                f"shapes {shapes}, expected {n} of {shape}"
            )


def check_kind(served: Served, kind: str | None) -> None:
    """The loaded model is what the server serves, and what the registry's tag says."""
    declared = served.tags.get("kind")
    if declared and declared != served.kind:
        raise LoadError(
            f"v{served.version}: tagged kind={declared} but its model is a {served.kind} model"
        )
    if kind is not None and served.kind != kind:
        raise LoadError(
            f"v{served.version}: a {served.kind} model; this server serves {kind} models "
            "(genforge serve --model)"
        )


def load_version(client, name: str, version: str, kind: str | None = None) -> Served:
    """Download, verify, load and smoke-test `models:/<name>/<version>`; `kind`
    ("generation" or "translation", None: either) is what the caller serves."""
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
            check_kind(served, kind)
            smoke_test(served)
    except LoadError:
        files.cleanup()
        raise
    except Exception as exc:
        files.cleanup()
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise LoadError(f"{where}: cannot be loaded ({exc.__class__.__name__}: {first})") from None
    return served
