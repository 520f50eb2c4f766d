"""The gate means the same thing on any dataset (issue 17), on four small datasets made here.

For each dataset — one-class RGB photo patches (no labels to learn from), a two-class
grey set, digits and coloured shapes — the featurizer stage trains its features,
scores the calibration references and writes calibration.json only when they are
ordered. Then image "generators" of known quality go through the real scoring and
the real default gate: pixel-shuffled images, blurred training images and a
memoriser (training copies) are refused; real held-out images (the floor) pass.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from genforge.config import GateConfig, validate
from genforge.data.ingest import ingest
from genforge.data.photos import photo_patches
from genforge.data.prepare import prepare
from genforge.evaluation.calibration import STRUCTURELESS, relative_metrics
from genforge.evaluation.featurizer import FeaturizerError, train_featurizer
from genforge.evaluation.reference import blurred, memoriser_images, reference_for, shuffled
from genforge.evaluation.scoring import load_judge
from genforge.layout import CALIBRATION
from genforge.registry.gate import judge as gate_judge

pytestmark = pytest.mark.slow
EVALUATE = {"n_samples": 200, "bootstrap": 20, "c2st_max_iter": 50, "batch_size": 100}
FEATURIZER: dict[str, Any] = {}  # the defaults: what a user gets


DATASETS: dict[str, dict[str, Any]] = {
    "one-class-rgb": {"source": "npz", "image_size": 16, "channels": 3},
    "two-class-grey": {
        "source": "shapes",
        "image_size": 16,
        "channels": 1,
        "shapes": {"shapes": ["circle", "square"], "colours": ["white"], "per_class": 100},
    },
    "digits": {"source": "digits", "image_size": 8, "channels": 1},
    "shapes": {
        "source": "shapes",
        "image_size": 12,
        "channels": 3,
        "shapes": {"shapes": ["circle", "square", "triangle"], "per_class": 60},
    },
}


@pytest.fixture(scope="module", params=list(DATASETS))
def calibrated(request, tmp_path_factory):
    """(name, params, root, judge, references) with a calibrated featurizer under root."""
    root = tmp_path_factory.mktemp(request.param)
    data = dict(DATASETS[request.param])
    if data["source"] == "npz":
        data["path"] = str(photo_patches(root / "photos.npz"))
    params = validate({"data": data, "featurizer": FEATURIZER, "evaluate": EVALUATE})
    ingest(params.data, root / "data/raw")
    prepare(params.data, root / "data/raw", root / "data/prepared")
    cache = root / "cache"
    train_featurizer(params, root / "data/prepared", root / "models/featurizer", cache)
    judge = load_judge(params.evaluate, root / "data/prepared", root / "models/featurizer", cache)
    refs, hit = reference_for(judge, EVALUATE["n_samples"], params.evaluate.seed)
    assert hit, "the featurizer stage computes (and caches) the references the evaluation uses"
    return request.param, params, root, judge, refs


def verdict(judge, refs, images: torch.Tensor) -> tuple[bool, list[str], dict]:
    """The default gate's verdict on `images` scored as a candidate would be."""
    scored = judge.score(images, None, seed=7).metrics
    metrics = {**scored, **relative_metrics(scored, refs)}
    v = gate_judge(metrics, GateConfig(), champion=None)
    return v.passed, v.reasons, metrics


def test_the_calibration_table_is_in_order(calibrated):
    name, params, root, _, refs = calibrated
    table = json.loads((root / "models/featurizer" / CALIBRATION).read_text())
    assert table["problems"] == []
    fid = {k: v["fid"] for k, v in table["references"].items() if v is not None}
    margin = params.featurizer.calibration_margin
    assert fid["blur"] >= margin * fid["floor"], fid
    for k in STRUCTURELESS:
        assert fid[k] >= margin * fid["blur"], fid
    # each reference's place on the dataset's own scale is in the table
    assert table["references"]["floor"]["fid_rel"] == pytest.approx(0.0)
    assert table["references"]["blur"]["fid_rel"] == pytest.approx(1.0)
    # the memoriser is perfect on fidelity but caught by the data-copying statistic
    assert table["references"]["memoriser"]["copying"] < GateConfig().copying_min
    assert abs(table["references"]["floor"]["copying"]) < 3
    assert (table["references"]["one_class"] is None) == (name == "one-class-rgb")


def test_bad_generators_are_refused_and_the_floor_passes(calibrated):
    _, _, _, judge, refs = calibrated
    test_x, train_x = judge.test[0], judge.train[0]
    passed, reasons, _ = verdict(judge, refs, test_x)
    assert passed, f"real held-out images must pass the default gate: {reasons}"

    passed, reasons, m = verdict(judge, refs, shuffled(test_x, seed=3))
    assert not passed and any(r.startswith("fid_rel") for r in reasons), reasons

    n = min(len(train_x), EVALUATE["n_samples"])
    blurry = blurred(memoriser_images(judge, n, seed=3)[0])
    passed, reasons, m = verdict(judge, refs, blurry)
    assert not passed, f"blurred training images passed the gate: {m}"

    copies = memoriser_images(judge, n, seed=3)[0]
    passed, reasons, m = verdict(judge, refs, copies)
    assert m["fid_rel"] < 0.5, "a memoriser looks perfect on FID..."
    assert not passed and any(r.startswith("copying") for r in reasons), reasons


def test_features_that_cannot_tell_fail_the_stage_and_write_nothing(tmp_path):
    """A featurizer at its random initialisation (1 step) on one-class photos cannot
    tell blur from real data: the stage fails, naming what to do, and writes nothing."""
    data = {**DATASETS["one-class-rgb"], "path": str(photo_patches(tmp_path / "p.npz"))}
    params = validate(
        {"data": data, "featurizer": {**FEATURIZER, "steps": 1}, "evaluate": EVALUATE}
    )
    ingest(params.data, tmp_path / "data/raw")
    prepare(params.data, tmp_path / "data/raw", tmp_path / "data/prepared")
    out = tmp_path / "models/featurizer"
    with pytest.raises(FeaturizerError, match=r"cannot tell good from bad .*featurizer.steps"):
        train_featurizer(params, tmp_path / "data/prepared", out, tmp_path / "cache")
    assert not out.exists()
    assert not [p for p in (tmp_path / "models").iterdir()], "staging files left behind"


def test_pixel_moments_in_chunks_equal_the_whole_split_at_once():
    """The Gaussian reference's moments, computed without a float copy of the split."""
    from genforge.evaluation.reference import pixel_moments

    x = torch.randint(0, 256, (3000, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    x = x.to(torch.uint8)
    mean, std = pixel_moments(x, chunk=999)
    assert torch.allclose(mean, x.double().mean(0), atol=1e-9)
    assert torch.allclose(std, x.double().std(0), atol=1e-9)
