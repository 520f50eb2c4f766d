"""The gate as a pure function: every threshold, the re-scored champion comparison."""

from __future__ import annotations

import pytest

from genforge.config import GateConfig
from genforge.registry.gate import best, judge

CFG = GateConfig(  # absolute bounds only (the dataset-relative ones: test_gate_relative.py)
    fid_rel_max=None,
    kid_rel_max=None,
    precision_rel_min=None,
    recall_rel_min=None,
    coverage_rel_min=None,
    copying_min=None,
    fid_max=10.0,
    kid_max=0.05,
    precision_min=0.5,
    recall_min=0.3,
    coverage_min=0.3,
    classes_covered_min=8,
    min_improvement=0.02,
    max_diversity_drop=0.05,
)
GOOD = {
    "fid": 5.0,
    "kid": 0.01,
    "precision": 0.8,
    "recall": 0.6,
    "coverage": 0.7,
    "classes_covered": 10,
    "num_classes": 10,
}


def with_(**changes):
    return {**GOOD, **changes}


@pytest.mark.parametrize(
    ("metrics", "champion", "reason"),
    [
        (with_(fid=10.5), None, "fid 10.5 > gate.fid_max 10"),
        (with_(kid=0.06), None, "kid 0.06 > gate.kid_max 0.05"),
        (with_(precision=0.4), None, "precision 0.4 < gate.precision_min 0.5"),
        (with_(recall=0.2), None, "recall 0.2 < gate.recall_min 0.3"),
        (with_(coverage=0.1), None, "coverage 0.1 < gate.coverage_min 0.3"),
        (with_(classes_covered=7), None, "classes_covered 7 < gate.classes_covered_min 8"),
        (with_(fid=None), None, "fid is missing (gate.fid_max needs it)"),
        (with_(kid=float("nan")), None, "kid is missing"),
        # worse than the (re-scored) champion: FID must improve by 2 % relative
        (with_(fid=4.95), with_(fid=5.0), "does not improve on the champion's re-scored 5"),
        # diversity may not drop by more than 0.05 (absolute) against the champion
        (with_(fid=4.0, recall=0.5), with_(fid=5.0, recall=0.6), "recall 0.5 drops more"),
        (with_(fid=4.0, coverage=0.6), with_(fid=5.0, coverage=0.7), "coverage 0.6 drops"),
    ],
)
def test_each_failed_condition_fails_with_its_reason(metrics, champion, reason):
    verdict = judge(metrics, CFG, champion)
    assert not verdict.passed
    assert any(reason in r for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    ("metrics", "champion"),
    [
        (GOOD, None),  # no champion: the thresholds decide
        (with_(fid=4.9), with_(fid=5.0)),  # exactly 2 % better
        (with_(fid=4.0, recall=0.56), with_(fid=5.0, recall=0.6)),  # drop within 0.05
        (with_(classes_covered=4, num_classes=4), None),  # min 8 capped at 4 classes
    ],
)
def test_passes(metrics, champion):
    verdict = judge(metrics, CFG, champion)
    assert verdict.passed and verdict.reasons == []


def test_every_failure_is_listed_not_just_the_first():
    verdict = judge(with_(fid=50.0, kid=0.5, recall=0.0), CFG, with_(fid=1.0))
    # fid, kid, recall thresholds; not better than the champion; recall dropped below it
    assert [r.split()[0] for r in verdict.reasons] == ["fid", "kid", "recall", "fid", "recall"]


def test_champion_numbers_are_the_ones_passed_in():
    """The caller passes the re-scored champion: a stored better number is irrelevant."""
    candidate = with_(fid=8.0)
    assert not judge(candidate, CFG, with_(fid=5.0)).passed  # stored, older data
    assert judge(candidate, CFG, with_(fid=20.0)).passed  # re-scored on today's data


def test_best_is_the_lowest_fid_among_passing():
    metrics = {"gan": with_(fid=3.0), "vae": with_(fid=4.0), "diffusion": with_(fid=2.0)}
    verdicts = {f: judge(m, CFG, None) for f, m in metrics.items()}
    verdicts["diffusion"] = judge(with_(fid=2.0, kid=1.0), CFG, None)  # fails KID
    assert best(metrics, verdicts) == "gan"
    assert best({}, {}) is None
