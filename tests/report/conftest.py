"""A tiny pipeline output tree for the report: prepared data, five briefly trained
families, and metrics / gate / FID-curve / fooled-grid fixtures in the documented shapes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genforge.config import FAMILIES
from genforge.grids import png_bytes
from genforge.layout import Layout
from tests.conftest import tiny_params

REPORT = {
    "anomaly_images": 16,
    "speed_images": 4,
    "sweep_samples": 10,
    "diffusion_sweep": [2, 5, 50, "ancestral"],
}


FEATURIZER = {
    "steps": 30,
    "batch_size": 16,
    "width": 8,
    "feature_dim": 16,
    "min_test_accuracy": 0.0,
}
EVALUATE = {"n_samples": 10, "batch_size": 16, "bootstrap": 0, "kid_subset_size": 5}


def report_params(**sections):
    """Tiny params for all five families; report, featurizer and evaluation sized for tests."""
    tiny = {"report": REPORT, "featurizer": FEATURIZER, "evaluate": EVALUATE}
    merged = {k: {**v, **sections.pop(k, {})} for k, v in tiny.items()}
    return tiny_params(list(FAMILIES), **merged, **sections)


def reference(fid: float, quality: float) -> dict:
    keys = ("precision", "recall", "density", "coverage")
    return {
        "fid": fid,
        "kid": fid / 100,
        "kid_std": 1e-3,
        **dict.fromkeys(keys, quality),
        "classes_covered": 4,
        "class_hist_distance": 0.01,
    }


def metrics_for(family: str, i: int) -> dict:
    """A metrics/<family>.json in the evaluation contract's shape; family i is ranked i-th."""
    return {
        "family": family,
        "fid": 2.0 + i,
        "fid_ci_low": 1.8 + i,
        "fid_ci_high": 2.3 + i,
        "kid": 0.01 * (i + 1),
        "kid_std": 0.002,
        "precision": 0.9 - 0.1 * i,
        "recall": 0.5 + 0.08 * i,
        "density": 0.8,
        "coverage": 0.6 + 0.05 * i,
        "classes_covered": 4,
        "num_classes": 4,
        "class_hist_distance": 0.05 * i,
        "label_accuracy": 0.9,
        "c2st_accuracy": 0.6 + 0.05 * i,
        "c2st_fooled": 0.3 - 0.05 * i,
        "samples_per_s": 1000.0 / (i + 1),
        "params": 10_000 * (i + 1),
        "generator_params": 5_000 * (i + 1),
        "bits_per_dim": 4.5 if family in ("vae", "pixelcnn") else None,
        "n_samples": 100,
        "seed": 1234,
        "feature_extractor": "domain",
        "data_hash": "abc",
        "reference": {
            "floor": reference(0.2, 0.95),
            "gaussian": reference(60.0, 0.1),
            "noise": reference(300.0, 0.0),
        },
    }


RANK = ["gan", "vae", "diffusion", "pixelcnn", "stylegan", "vaegan"]


def write_fixtures(root: Path, families: list[str]) -> None:
    """metrics/, evals/<f>/fooled.png, plots/<f>/fid_vs_step.json and gate/report.json."""
    rng = np.random.default_rng(0)
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    # The fixture's numbers go by this rank (gan best, vae the champion), whatever order
    # the registry lists the families in; a family not named here ranks last.
    families = sorted(families, key=lambda f: RANK.index(f) if f in RANK else len(RANK))
    for i, f in enumerate(families):
        (root / "metrics" / f"{f}.json").write_text(json.dumps(metrics_for(f, i)))
        (root / "evals" / f).mkdir(parents=True, exist_ok=True)
        img = Image.fromarray(rng.integers(0, 255, (18, 36, 3), dtype=np.uint8))
        (root / "evals" / f / "fooled.png").write_bytes(png_bytes(img))
        curve = [{"step": s, "fid": 50.0 / s + i, "n_samples": 50} for s in (2, 4, 6)]
        Layout(root).fid_plot(f).parent.mkdir(parents=True, exist_ok=True)
        Layout(root).fid_plot(f).write_text(json.dumps(curve))
    verdicts = {
        f: {
            "passed": i == 1,
            "forced": False,
            "reasons": [] if i == 1 else [f"fid {2.0 + i} > fid_max 2.5"],
        }
        for i, f in enumerate(families)
    }
    (root / "gate").mkdir(exist_ok=True)
    (root / "gate" / "report.json").write_text(
        json.dumps({"champion": {"family": families[1], "version": "3"}, "families": verdicts})
    )


@pytest.fixture(scope="session")
def trained_tree(tmp_path_factory) -> Path:
    """data/prepared and models/<family> for all five families (6 steps each), built once."""
    from genforge.data.ingest import ingest
    from genforge.data.prepare import prepare
    from genforge.evaluation.featurizer import train_featurizer
    from genforge.training.run import train_family

    root = tmp_path_factory.mktemp("report-tree")
    params = report_params()
    ingest(params.data, root / "data/raw")
    prepare(params.data, root / "data/raw", root / "data/prepared")
    for f in FAMILIES:
        train_family(params, f, root / "data/prepared", root / "models" / f, progress=False)
    train_featurizer(
        params, root / "data/prepared", root / "models/featurizer", root / ".genforge-cache"
    )
    return root


@pytest.fixture
def tree(trained_tree, tmp_path) -> Path:
    """A private copy of the trained tree with every report input present."""
    root = tmp_path / "repo"
    shutil.copytree(trained_tree, root)
    write_fixtures(root, list(FAMILIES))
    return root
