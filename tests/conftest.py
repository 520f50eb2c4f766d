"""Fixtures shared across the suite: tiny params and a tiny prepared dataset."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import flows  # noqa: F401  (Prefect's defaults, e.g. the ephemeral start-up timeout, before prefect is imported)
from genforge.config import ModelsConfig, Params, validate

# Telemetry off for everything a test starts.
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Tiny models run fastest on one thread, and CI's 2 cores are shared with the
# servers and subprocesses some tests start: oversubscribed OpenMP threads spin.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Size knobs shrunk for tests, applied where a family has them.
TINY_KNOBS = {
    "steps": 6,
    "batch_size": 8,
    "z_dim": 8,
    "base_channels": 8,
    "hidden": 8,
    "channels": 8,
    "width": 8,
    "layers": 2,
    "timesteps": 20,
    "sample_steps": 5,
}


def tiny_family(family: str, **overrides: Any) -> dict[str, Any]:
    """A family params section with every size knob it has shrunk to test scale."""
    fields = type(ModelsConfig().family(family)).model_fields
    section = {k: v for k, v in TINY_KNOBS.items() if k in fields}
    section.update(overrides)
    return section


RELATIVE_GATE = (
    "fid_rel_max",
    "kid_rel_max",
    "precision_rel_min",
    "recall_rel_min",
    "coverage_rel_min",
    "copying_min",
)


def tiny_params(families: list[str], tmp: Path | None = None, **sections: Any) -> Params:
    """Params for a tiny shapes dataset (8x8 RGB, 4 classes) and the given families."""
    raw: dict[str, Any] = {
        "data": {
            "source": "shapes",
            "image_size": 8,
            "channels": 3,
            "shapes": {
                "shapes": ["circle", "square"],
                "colours": ["red", "blue"],
                "per_class": 12,
                "canvas": 16,
            },
        },
        "models": {"families": families, **{f: tiny_family(f) for f in families}},
        "train": {
            "device": "cpu",
            "checkpoint_every": 3,
            "log_every": 1,
            "sample_every": 1000,
            "ema_decay": 0.9,
        },
        # A few-step featurizer on 8x8 shapes with a dozen test images cannot calibrate;
        # these tests are about the plumbing (tests/evaluation/test_calibration.py is not).
        "featurizer": {"calibration_required": False},
        # Tiny models cannot reach the dataset-relative bar (the default gate); the tests
        # of the registry mechanics use absolute bounds on synthetic or tiny-model metrics.
        "gate": {
            **{k: None for k in RELATIVE_GATE},
            "fid_max": 10.0,
            "kid_max": 0.05,
            "precision_min": 0.5,
            "recall_min": 0.3,
            "coverage_min": 0.3,
            "classes_covered_min": 8,
        },
        # The studies (report tables 6 and 7) are off: they train every family twice more;
        # tests/report/test_studies.py runs them at test scale.
        "report": {"datasets": [], "transfer": None},
        # The translation stage at seconds: 8 px domains, a 4-step CycleGAN, a gate it passes
        "translation": {
            "data": {"image_size": 8, "typeset_per_class": 20},
            "cyclegan": {
                "steps": 4,
                "batch_size": 4,
                "base_channels": 4,
                "res_blocks": 1,
                "d_channels": 4,
                "log_every": 1,
            },
            "grid_columns": 4,
            "gate": {"fid_vs_identity_max": 1e9, "content_min": 0.0},
        },  # fmt: skip
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return validate(raw)


@contextlib.contextmanager
def _tracking_uri_kept():
    """Put MLflow's tracking URI back as it was: `mlflow.set_tracking_uri()` sets a module
    global (which MLflow prefers over everything) and exports MLFLOW_TRACKING_URI (which
    genforge and every subprocess then prefer over params.yaml). A test that leaves
    either set points every later test in its process at its store: under xdist
    that was whichever file ran before on the same worker (CI: test_gate_retry read
    the working directory's empty mlflow.db)."""
    name = "MLFLOW_TRACKING_URI"
    env = os.environ.get(name)
    utils = sys.modules.get("mlflow.tracking._tracking_service.utils")
    global_uri = getattr(utils, "_tracking_uri", None)
    try:
        yield
    finally:
        if env is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = env
        utils = sys.modules.get("mlflow.tracking._tracking_service.utils")
        if utils is not None:
            utils._tracking_uri = global_uri


@pytest.fixture(autouse=True)
def _isolated_tracking_uri():
    """Each test's changes to the tracking URI are undone after it."""
    with _tracking_uri_kept():
        yield


@pytest.fixture(scope="module", autouse=True)
def _isolated_tracking_uri_per_module():
    """Module-scoped fixtures that set the URI (a served model's registry) tear down
    after the last test's own guard: undone when the module ends."""
    with _tracking_uri_kept():
        yield


@pytest.fixture
def prepared_dir(tmp_path_factory) -> Path:
    """data/prepared for the tiny shapes dataset, built once per test session."""
    return tiny_prepared(tmp_path_factory)


def tiny_prepared(tmp_path_factory) -> Path:
    """The tiny prepared data behind `prepared_dir`, also for module-scoped fixtures."""
    from genforge.data.ingest import ingest
    from genforge.data.prepare import prepare

    root = tmp_path_factory.getbasetemp() / "tiny-data"
    if not (root / "prepared" / "meta.json").is_file():
        params = tiny_params(["vae"])
        ingest(params.data, root / "raw")
        prepare(params.data, root / "raw", root / "prepared")
    return root / "prepared"


def pytest_collection_modifyitems(config, items):
    """Files with a `slow` test first, each file's tests kept together and in order.

    `make test` hands whole files to its workers in collection order (pytest-xdist's
    loadfile); the few files that run the whole flow take minutes each, and started last
    they would finish on one worker while the others idle.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order within is kept
