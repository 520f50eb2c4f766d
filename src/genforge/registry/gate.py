"""The promotion gate: a pure function from numbers to a verdict with its reasons.

A candidate passes when
  * every absolute threshold of `gate:` holds (FID and KID at most, precision, recall,
    coverage and classes covered at least; classes_covered_min is capped at the
    dataset's class count, so "8" means "all of them" on a 4-class dataset), and
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

# (metric, gate key, "max" = the metric may not exceed it, "min" = may not fall below it)
THRESHOLDS: tuple[tuple[str, str, str], ...] = (
    ("fid", "fid_max", "max"),
    ("kid", "kid_max", "max"),
    ("precision", "precision_min", "min"),
    ("recall", "recall_min", "min"),
    ("coverage", "coverage_min", "min"),
    ("classes_covered", "classes_covered_min", "min"),
)
DIVERSITY = ("recall", "coverage")
GATED_METRICS = tuple(m for m, _, _ in THRESHOLDS) + ("num_classes",)


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


def _limit(metrics: dict[str, Any], cfg: GateConfig, key: str) -> float:
    limit = float(getattr(cfg, key))
    classes = _number(metrics.get("num_classes"))
    if key == "classes_covered_min" and classes is not None:
        limit = min(limit, classes)
    return limit


def threshold_reasons(metrics: dict[str, Any], cfg: GateConfig) -> list[str]:
    """One reason per absolute threshold the candidate misses (or cannot show)."""
    reasons = []
    for metric, key, kind in THRESHOLDS:
        value, limit = _number(metrics.get(metric)), _limit(metrics, cfg, key)
        if value is None:
            reasons.append(f"{metric} is missing (gate.{key} needs it)")
        elif kind == "max" and value > limit:
            reasons.append(f"{metric} {value:.4g} > gate.{key} {limit:g}")
        elif kind == "min" and value < limit:
            reasons.append(f"{metric} {value:.4g} < gate.{key} {limit:g}")
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
