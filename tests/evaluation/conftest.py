"""A small real dataset for the evaluation tests: scikit-learn's digits at their native 8x8.

Ten classes make mode coverage meaningful; a tiny featurizer (under a second) gives
the features. Built once per test session; tests that write copy what they change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from genforge.config import Params, validate
from tests.conftest import tiny_family

FEATURIZER = {
    "steps": 150,
    "batch_size": 64,
    "width": 8,
    "feature_dim": 32,
    "min_test_accuracy": 0.8,
    # a test-sized featurizer (width 8, 150 steps) orders the references by 2x, not the
    # default 3x of a real one (tests/evaluation/test_calibration.py uses the default)
    "calibration_margin": 2.0,
}
EVALUATE = {"n_samples": 200, "bootstrap": 20, "c2st_max_iter": 50, "batch_size": 100}


def digits_params(**sections: Any) -> Params:
    """Digits at 8x8 grey, a conditional tiny VAE, test-sized featurizer and evaluation."""
    raw: dict[str, Any] = {
        "data": {"source": "digits", "image_size": 8, "channels": 1},
        "models": {"families": ["vae"], "vae": tiny_family("vae", conditional=True, steps=20)},
        "train": {"device": "cpu", "checkpoint_every": 10, "log_every": 10, "sample_every": 10},
        "featurizer": FEATURIZER,
        "evaluate": EVALUATE,
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return validate(raw)


def build_tree(root: Path, params: Params) -> Path:
    """data/prepared and models/featurizer for `params` under `root`."""
    from genforge.data.ingest import ingest
    from genforge.data.prepare import prepare
    from genforge.evaluation.featurizer import train_featurizer

    ingest(params.data, root / "data/raw")
    prepare(params.data, root / "data/raw", root / "data/prepared")
    train_featurizer(
        params, root / "data/prepared", root / "models/featurizer", root / ".genforge-cache"
    )
    return root


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> tuple[Params, Path]:
    """(params, root) with root/data/prepared and root/models/featurizer for 8x8 digits."""
    params = digits_params()
    return params, build_tree(tmp_path_factory.mktemp("digits8"), params)


@pytest.fixture(scope="session")
def trained_vae(digits, tmp_path_factory) -> Path:
    """models/ holding a conditional tiny VAE trained 20 steps on the digits (read-only)."""
    from genforge.training.run import train_family

    params, root = digits
    models = tmp_path_factory.mktemp("digits8-models")
    train_family(params, "vae", root / "data/prepared", models / "vae", progress=False)
    return models
