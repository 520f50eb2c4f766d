"""The promotion gate: a pure function from numbers to a verdict with its reasons.

A candidate passes when
  * every threshold of `gate:` that is set holds. The defaults are in the dataset's own
    units (evaluation/calibration.py): FID and KID at most a share of the way from
    real held-out data (0) to a 1-pixel blur of it (1); precision, recall and coverage
    at least a share of real held-out data's; a share of the classes covered; and the
    data-copying z-score (Meehan et al. 2020) above a bound, which refuses memorisers.
    Absolute bounds in raw units (fid_max, ..., classes_covered_min, capped at the
    class count) are off unless set; and
  * when there is a champion, it beats the champion **re-scored on the current
    reference data**: FID <= (1 - min_improvement) x champion FID (relative gain), and
    recall and coverage at most `max_diversity_drop` below the champion's (absolute
    points, both being fractions). A champion's stored numbers from older data are not
    comparable and are never passed in here.
No champion (or none that can be scored on the current data): the thresholds decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from genforge.config import GateConfig

# (metric, gate key, "max" = the metric may not exceed it, "min" = may not fall below it);
# a key set to null is not checked
THRESHOLDS: tuple[tuple[str, str, str], ...] = (
    ("fid_rel", "fid_rel_max", "max"),
    ("kid_rel", "kid_rel_max", "max"),
    ("precision_rel", "precision_rel_min", "min"),
    ("recall_rel", "recall_rel_min", "min"),
    ("coverage_rel", "coverage_rel_min", "min"),
    ("classes_covered_share", "classes_covered_share_min", "min"),
    ("copying", "copying_min", "min"),
    ("fid", "fid_max", "max"),
    ("kid", "kid_max", "max"),
    ("precision", "precision_min", "min"),
    ("recall", "recall_min", "min"),
    ("coverage", "coverage_min", "min"),
    ("classes_covered", "classes_covered_min", "min"),
)
DIVERSITY = ("recall", "coverage")
DERIVED = ("classes_covered_share",)  # computed here from the stored metrics
GATED_METRICS = tuple(m for m, _, _ in THRESHOLDS if m not in DERIVED) + ("num_classes",)
# raw values shown beside the relative ones in the reasons
RAW = {"fid_rel": "fid", "kid_rel": "kid", "precision_rel": "precision",
       "recall_rel": "recall", "coverage_rel": "coverage"}  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons)}


def _number(value: Any) -> float | None:
    """A finite number, else None (missing, null, NaN, a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _limit(metrics: dict[str, Any], cfg: GateConfig, key: str) -> float | None:
    limit = getattr(cfg, key)
    if limit is None:
        return None
    classes = _number(metrics.get("num_classes"))
    if key == "classes_covered_min" and classes is not None:
        return min(float(limit), classes)
    return float(limit)


def _value(metrics: dict[str, Any], metric: str) -> float | None:
    if metric == "classes_covered_share":
        covered, classes = (
            _number(metrics.get("classes_covered")),
            _number(metrics.get("num_classes")),
        )
        return covered / classes if covered is not None and classes else None
    return _number(metrics.get(metric))


def _raw(metrics: dict[str, Any], metric: str) -> str:
    raw = _number(metrics.get(RAW.get(metric, "")))
    return f" ({RAW[metric]} {raw:.4g})" if raw is not None else ""


def threshold_reasons(metrics: dict[str, Any], cfg: GateConfig) -> list[str]:
    """One reason per set threshold the candidate misses (or cannot show)."""
    reasons = []
    for metric, key, kind in THRESHOLDS:
        limit = _limit(metrics, cfg, key)
        if limit is None:
            continue
        value = _value(metrics, metric)
        if value is None:
            reasons.append(f"{metric} is missing (gate.{key} needs it)")
        elif kind == "max" and value > limit:
            reasons.append(f"{metric} {value:.4g}{_raw(metrics, metric)} > gate.{key} {limit:g}")
        elif kind == "min" and value < limit:
            reasons.append(f"{metric} {value:.4g}{_raw(metrics, metric)} < gate.{key} {limit:g}")
    return reasons


def champion_reasons(
    metrics: dict[str, Any], cfg: GateConfig, champion: dict[str, Any]
) -> list[str]:
    """Reasons the candidate does not beat the re-scored champion (empty: it does)."""
    reasons = []
    fid, champ_fid = _number(metrics.get("fid")), _number(champion.get("fid"))
    if champ_fid is None:
        reasons.append("the champion's re-scored fid is missing: no comparison possible")
    elif fid is not None:
        need = champ_fid * (1.0 - cfg.min_improvement)
        if fid > need:
            reasons.append(
                f"fid {fid:.4g} does not improve on the champion's re-scored {champ_fid:.4g} "
                f"by gate.min_improvement {cfg.min_improvement:.0%} (needs <= {need:.4g})"
            )
    for metric in DIVERSITY:
        value, champ = _number(metrics.get(metric)), _number(champion.get(metric))
        if value is None:
            continue  # already a threshold reason
        if champ is None:
            reasons.append(f"the champion's re-scored {metric} is missing")
        elif value < champ - cfg.max_diversity_drop:
            reasons.append(
                f"{metric} {value:.4g} drops more than gate.max_diversity_drop "
                f"{cfg.max_diversity_drop:g} below the champion's re-scored {champ:.4g}"
            )
    return reasons


def judge(candidate: dict[str, Any], cfg: GateConfig, champion: dict[str, Any] | None) -> Verdict:
    """The verdict on `candidate` (its metrics) against the thresholds and, if given,
    the champion's metrics re-scored on the current reference data."""
    reasons = threshold_reasons(candidate, cfg)
    if champion is not None:
        reasons += champion_reasons(candidate, cfg, champion)
    return Verdict(passed=not reasons, reasons=reasons)


def best(candidates: dict[str, dict[str, Any]], verdicts: dict[str, Verdict]) -> str | None:
    """The passing candidate with the lowest FID (ties: the first key), or None."""
    passing = [k for k in candidates if verdicts[k].passed]
    return min(passing, key=lambda k: candidates[k]["fid"], default=None)
