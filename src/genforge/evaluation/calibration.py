"""The dataset's own scale: can the features tell, and where does a candidate sit?

FID and KID have no unit: on digits the per-pixel Gaussian scores 304, on a small
grey set 30,340. A fixed `fid_max` is therefore a different bar on every dataset. The
calibration references (reference.py) give each dataset its own scale instead:

- the metric proves itself: the features must rank real held-out data (floor) below a
  1-pixel blur of it, and the blur below both structure-free references (pixel-shuffled
  images, the per-pixel Gaussian), each by `featurizer.calibration_margin` x in FID.
  The two structure-free references are not ordered against each other: on digits a
  99.7 %-accurate classifier scores them 306.9 and 304.5, both "garbage";
- a candidate's FID and KID are placed on the floor -> blur line (0 = as good as real
  held-out data, 1 = as bad as a 1-pixel blur of it), and its precision, recall and
  coverage are divided by the floor's (1 = what real held-out data gets).

The gate's default thresholds are in these units, so one params.yaml is the same bar
on digits, faces and a user's photos.
"""

from __future__ import annotations

import math
from typing import Any

ORDER = ("floor", "blur")  # must rise by the margin, then every structure-free one above
STRUCTURELESS = ("shuffled", "gaussian")
SCALED = ("fid", "kid")  # 0 at the floor, 1 at the blur reference
RATIOS = ("precision", "recall", "coverage")  # divided by the floor's
RELATIVE_KEYS = tuple(f"{k}_rel" for k in (*SCALED, *RATIOS))


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def relative_metrics(metrics: dict[str, Any], refs: dict[str, Any]) -> dict[str, float | None]:
    """`fid_rel`, `kid_rel` (floor = 0, blur = 1) and `precision_rel`, `recall_rel`,
    `coverage_rel` (the floor's = 1) of one scored image set; None where undefined."""
    floor, blur = refs.get("floor") or {}, refs.get("blur") or {}
    out: dict[str, float | None] = {}
    for key in SCALED:
        value, lo, hi = (_finite(d.get(key)) for d in (metrics, floor, blur))
        ok = None not in (value, lo, hi) and hi > lo
        out[f"{key}_rel"] = (value - lo) / (hi - lo) if ok else None
    for key in RATIOS:
        value, base = _finite(metrics.get(key)), _finite(floor.get(key))
        out[f"{key}_rel"] = value / base if value is not None and base else None
    return out


def with_relative(refs: dict[str, Any]) -> dict[str, Any]:
    """The references, each with its own place on the scale (the report's table)."""
    return {k: None if m is None else {**m, **relative_metrics(m, refs)} for k, m in refs.items()}


def calibration_problems(refs: dict[str, Any], margin: float) -> list[str]:
    """Why these features cannot order the references (empty: they can).

    Requires FID(floor) x margin <= FID(blur), and FID(blur) x margin <= the FID of
    every structure-free reference.
    """
    fid = {k: _finite((refs.get(k) or {}).get("fid")) for k in (*ORDER, *STRUCTURELESS)}
    missing = [k for k, v in fid.items() if v is None]
    if missing:
        return [f"no FID for the reference(s) {', '.join(missing)}"]
    problems = []
    pairs = [("floor", "blur")] + [("blur", k) for k in STRUCTURELESS]
    for better, worse in pairs:
        if not fid[worse] >= margin * fid[better] or not fid[worse] > fid[better]:
            problems.append(
                f"FID of {worse} ({fid[worse]:.4g}) is not {margin:g}x that of {better} "
                f"({fid[better]:.4g})"
            )
    return problems


def summary(refs: dict[str, Any]) -> dict[str, float | None]:
    """Flat numbers for the featurizer's metrics.json: how far apart the references are."""
    fid = {k: _finite((refs.get(k) or {}).get("fid")) for k in refs}

    def ratio(a: str, b: str) -> float | None:
        return fid[a] / fid[b] if fid.get(a) is not None and fid.get(b) else None

    return {
        "calibration_floor_fid": fid.get("floor"),
        "calibration_blur_over_floor": ratio("blur", "floor"),
        "calibration_shuffled_over_blur": ratio("shuffled", "blur"),
        "calibration_gaussian_over_blur": ratio("gaussian", "blur"),
        "calibration_memoriser_copying": _finite((refs.get("memoriser") or {}).get("copying")),
    }
