"""The default gate is in the dataset's own units: relative FID/KID, ratios to the floor,
a share of the classes and the data-copying z-score; absolute bounds only when set."""

from __future__ import annotations

import pytest

from genforge.config import GateConfig
from genforge.evaluation.calibration import relative_metrics
from genforge.registry.gate import judge

REFS = {  # a dataset's calibration references (FID 2 real, 22 blurred)
    "floor": {"fid": 2.0, "kid": 0.0, "precision": 0.8, "recall": 0.9, "coverage": 0.6},
    "blur": {"fid": 22.0, "kid": 4.0, "precision": 0.6, "recall": 0.7, "coverage": 0.3},
}
RAW = {
    "fid": 6.0,
    "kid": 0.8,
    "precision": 0.7,
    "recall": 0.8,
    "coverage": 0.6,
    "classes_covered": 10,
    "num_classes": 10,
    "copying": -0.5,
}


def candidate(**changes):
    raw = {**RAW, **changes}
    return {**raw, **relative_metrics(raw, REFS)}


def test_relative_metrics_place_a_candidate_between_floor_and_blur():
    m = candidate()
    assert m["fid_rel"] == pytest.approx(0.2)  # (6 - 2) / (22 - 2)
    assert m["kid_rel"] == pytest.approx(0.2)
    assert m["precision_rel"] == pytest.approx(0.875)
    assert m["coverage_rel"] == pytest.approx(1.0)
    assert relative_metrics(RAW, {})["fid_rel"] is None  # no calibration: undefined


def test_the_same_relative_position_is_the_same_verdict_on_any_scale():
    """FID 6 on a dataset whose blur scores 22 is the bar FID 600 is where blur scores 2200."""
    scaled = {k: {**v, "fid": v["fid"] * 100} for k, v in REFS.items()}
    small = relative_metrics(RAW, REFS)["fid_rel"]
    large = relative_metrics({**RAW, "fid": 600.0}, scaled)["fid_rel"]
    assert small == pytest.approx(large)
    assert judge(candidate(), GateConfig(), None).passed


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"fid": 14.0}, "fid_rel 0.6 (fid 14) > gate.fid_rel_max 0.5"),
        ({"kid": 2.4}, "kid_rel 0.6 (kid 2.4) > gate.kid_rel_max 0.5"),
        ({"precision": 0.4}, "precision_rel 0.5 (precision 0.4) < gate.precision_rel_min 0.6"),
        ({"recall": 0.27}, "recall_rel 0.3 (recall 0.27) < gate.recall_rel_min 0.4"),
        ({"coverage": 0.24}, "coverage_rel 0.4 (coverage 0.24) < gate.coverage_rel_min 0.5"),
        ({"classes_covered": 7}, "classes_covered_share 0.7 < gate.classes_covered_share_min 0.8"),
        ({"copying": -5.0}, "copying -5 < gate.copying_min -3"),
    ],
)
def test_each_relative_threshold_refuses_with_raw_value_and_scale(changes, reason):
    v = judge(candidate(**changes), GateConfig(), None)
    assert not v.passed and reason in v.reasons, v.reasons


def test_absolute_bounds_are_off_by_default_and_apply_when_set():
    assert judge(candidate(fid=6.0), GateConfig(), None).passed
    v = judge(candidate(fid=6.0), GateConfig(fid_max=5.0), None)
    assert v.reasons == ["fid 6 > gate.fid_max 5"]


def test_a_candidate_without_calibration_cannot_pass_the_default_gate():
    v = judge(RAW, GateConfig(), None)
    assert not v.passed and "fid_rel is missing (gate.fid_rel_max needs it)" in v.reasons
