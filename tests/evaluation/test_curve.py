"""FidCurve: FID of the EMA model against the training step, appended by the trainer's hook."""

from __future__ import annotations

import math

from genforge.evaluation.curve import FidCurve, read_curve
from genforge.training.run import train_family
from tests.evaluation.conftest import digits_params


def test_fid_curve_records_one_point_per_sample_every(digits, tmp_path):
    _, root = digits
    params = digits_params(evaluate={"curve_samples": 40})
    out = tmp_path / "curve.jsonl"

    def run(where):
        curve = FidCurve(
            params, root / "data/prepared", root / "models/featurizer", tmp_path / "cache", out
        )
        train_family(
            params, "vae", root / "data/prepared", where, callbacks=[curve], progress=False
        )

    run(tmp_path / "a")
    points = read_curve(out)
    assert [p["step"] for p in points] == [10, 20]  # train.sample_every = 10, steps = 20
    assert all(p["n_samples"] == 40 and math.isfinite(p["fid"]) and p["fid"] > 0 for p in points)
    run(tmp_path / "b")  # a fresh run replaces the old points instead of appending to them
    assert [p["step"] for p in read_curve(out)] == [10, 20]
