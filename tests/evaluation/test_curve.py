"""FID against the training step: training leaves EMA snapshots, evaluation scores them."""

from __future__ import annotations

import math

from genforge.evaluation.curve import read_curve
from genforge.evaluation.evaluate import evaluate_family
from genforge.layout import CURVE
from genforge.training.checkpoint import load_snapshots
from genforge.training.run import train_family
from tests.conftest import tiny_family
from tests.evaluation.conftest import digits_params


def test_evaluation_scores_one_snapshot_per_sample_every(digits, tmp_path):
    _, root = digits
    params = digits_params(evaluate={"curve_samples": 40})  # sample_every 10, 20 steps
    models = tmp_path / "models"
    train_family(params, "vae", root / "data/prepared", models / "vae", progress=False)
    assert [step for step, _ in load_snapshots(models / "vae")] == [10, 20]

    evaluate_family(
        params, "vae", root / "data/prepared", models, root / "models/featurizer",
        tmp_path / "metrics/vae.json", tmp_path / "cache", evals_dir=tmp_path / "evals/vae",
        curve_path=tmp_path / "plots/vae" / CURVE,
    )  # fmt: skip
    points = read_curve(tmp_path / "plots/vae" / CURVE)  # a JSON array: a DVC plot file
    assert [p["step"] for p in points] == [10, 20]
    assert all(p["n_samples"] == 40 and math.isfinite(p["fid"]) and p["fid"] > 0 for p in points)


def test_a_fresh_run_drops_an_earlier_runs_snapshots(digits, tmp_path):
    _, root = digits
    out = tmp_path / "vae"
    train_family(digits_params(), "vae", root / "data/prepared", out, progress=False)
    shorter = digits_params(
        models={"vae": tiny_family("vae", conditional=True, steps=10)}
    )  # other params: not a resume
    train_family(shorter, "vae", root / "data/prepared", out, progress=False)
    assert [step for step, _ in load_snapshots(out)] == [10]
