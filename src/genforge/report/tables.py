"""The report's tables as data (columns, rows of raw values, a caption) and tables 1-4.

Cells hold raw numbers, strings, `NA` (rendered as "n/a" with its reason in the
table's notes) or `Noted` (a value with a note of its own); render.py formats them.
Tables 5-7 (measured by the report and `genforge study`) live in tables_speed_studies.py,
tables 8-10 in tables_two_sample_training.py, table 11 (the translation model) and its
rows in tables 1, 2 and 10 in tables_translation.py.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from genforge.layout import Layout
from genforge.models.registry import family_names, model_class
from genforge.registry.verdicts import verdict_text
from genforge.report.load import NA, FamilyInputs, ReportInputs, available, champion, references

REF_NAMES = {
    "floor": "real vs real (floor)",
    "gaussian": "per-pixel Gaussian",
    "noise": "uniform noise",
}
CALIBRATION_NAMES = {
    "floor": "real held-out images (floor)",
    "blur": "the same, 1-pixel blur",
    "shuffled": "the same, pixels shuffled",
    "one_class": "one class only (mode collapse)",
    "memoriser": "copies of training images",
    "gaussian": "per-pixel Gaussian",
    "noise": "uniform noise",
}
CALIBRATION_KEYS = ["fid", "fid_rel", "precision_rel", "recall_rel", "coverage_rel", "copying"]


@dataclass(frozen=True)
class Noted:
    """A cell value shown with a numbered note, like an NA's reason: e.g. a number that is
    not on the scale of the rest of its column."""

    value: Any
    note: str


@dataclass
class Table:
    """One report table; `unavailable` (a reason) replaces the rows when it cannot be built."""

    number: str
    title: str
    caption: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    unavailable: str | None = None
    figures: list[str] = field(default_factory=list)  # keys of figures shown with it
    note: str = ""  # a line shown after the table (and when it is unavailable)

    def notes(self) -> list[str]:
        """The distinct reasons of the NA cells and notes of the Noted ones, in order."""
        seen: dict[str, None] = {}
        for row in self.rows:
            for cell in row:
                if isinstance(cell, NA):
                    seen.setdefault(cell.reason)
                elif isinstance(cell, Noted):
                    seen.setdefault(cell.note)
        return list(seen)


def metric(fam: FamilyInputs, key: str) -> Any:
    """One metric of a family, or NA naming why it is missing."""
    if not available(fam.metrics):
        return fam.metrics
    value = fam.metrics.get(key)
    return NA(f"{Layout().metrics(fam.family)} has no {key!r}") if value is None else value


def main_loss(family: str, log: list[dict]) -> str | None:
    """The loss whose spread measures training stability: the family's own `main_loss`
    (models/base.py) when it logged it, else the first loss in its log."""
    key = model_class(family).main_loss if family in family_names() else None
    if key and key in log[-1]:
        return key
    keys = [k for k in log[-1] if k not in ("step", "images_per_s")]
    return keys[0] if keys else None


def loss_spread(log: list[dict], key: str) -> float | None:
    """std / |mean| of loss `key` over the second half of the logged steps (None: fewer
    than two values there, or one not finite)."""
    values = [r[key] for r in log if isinstance(r.get(key), int | float)]
    tail = values[len(values) // 2 :]
    if len(tail) < 2 or not all(math.isfinite(v) for v in tail):
        return None
    return statistics.pstdev(tail) / max(abs(statistics.fmean(tail)), 1e-8)


def stability(fam: FamilyInputs) -> dict[str, Any]:
    """Loss spread over the last half of training and whether training stopped early.

    The spread is the coefficient of variation (std / |mean|) of the main loss over the
    second half of the logged steps: low means a settled loss, high an oscillating one.
    """
    if not available(fam.log):
        return {"cv": fam.log, "loss": fam.log, "stopped": fam.log}
    key = main_loss(fam.family, fam.log)
    cv = loss_spread(fam.log, key) if key else None
    if cv is None:
        cv = NA(f"{fam.family}: too few logged steps for a loss spread")
    last = fam.log[-1].get("step")
    if available(fam.summary):
        stopped = "no" if last == fam.summary.get("steps") else f"log ends at step {last}"
    else:
        stopped = f"yes: stopped at step {last} without a summary (NaN loss or crash)"
    return {"cv": cv, "loss": key or NA("no loss in the log"), "stopped": stopped}


def verdict(inputs: ReportInputs, family: str) -> Any:
    if not available(inputs.gate):
        return inputs.gate
    v = (inputs.gate.get("families") or {}).get(family)
    if not isinstance(v, dict):
        return NA(f"the gate report has no verdict for {family}")
    return verdict_text(v)


def _extremes(values: dict[str, Any], lower_is_better: bool) -> tuple[str | None, str | None]:
    """(best, worst) family among those with numbers; None when fewer than two have one."""
    nums = {f: v for f, v in values.items() if isinstance(v, int | float) and math.isfinite(v)}
    if len(nums) < 2:
        return None, None
    order = sorted(nums, key=nums.get, reverse=not lower_is_better)
    return order[0], order[-1]


def strengths_and_limits(inputs: ReportInputs) -> dict[str, tuple[list[str], list[str]]]:
    """Per family, the criteria on which it is best (strengths) and worst (limits)."""
    fams = inputs.families
    criteria = {
        "fidelity": ({f: metric(x, "fid") for f, x in fams.items()}, True),
        "diversity": ({f: _diversity(x) for f, x in fams.items()}, False),
        "sampling speed": ({f: metric(x, "samples_per_s") for f, x in fams.items()}, False),
        "training stability": ({f: stability(x)["cv"] for f, x in fams.items()}, True),
        "size": ({f: metric(x, "generator_params") for f, x in fams.items()}, True),
    }
    out: dict[str, tuple[list[str], list[str]]] = {f: ([], []) for f in fams}
    for name, (values, lower) in criteria.items():
        best, worst = _extremes(values, lower)
        if best:
            out[best][0].append(f"best {name}")
            out[worst][1].append(f"worst {name}")
    for f, x in fams.items():
        bpd = metric(x, "bits_per_dim")
        if isinstance(bpd, int | float):
            out[f][0].append(f"likelihood {bpd:.2f} bits/dim")
    return out


def _diversity(fam: FamilyInputs) -> Any:
    r, c = metric(fam, "recall"), metric(fam, "coverage")
    if isinstance(r, int | float) and isinstance(c, int | float):
        return (r + c) / 2
    return r if isinstance(r, NA) else c


def table_comparison(inputs: ReportInputs) -> Table:
    champ = champion(inputs)
    marks = strengths_and_limits(inputs)
    rows = []
    for f, fam in inputs.families.items():
        strong, weak = marks[f]
        rows.append(
            [
                f + (" ★" if f == champ else ""),
                metric(fam, "fid"),
                _diversity(fam),
                metric(fam, "samples_per_s"),
                stability(fam)["cv"],
                ", ".join(strong) or "—",
                ", ".join(weak) or "—",
                verdict(inputs, f),
            ]
        )
    caption = (
        "One row per family: fidelity (FID, lower is better), diversity (mean of recall and "
        "coverage, higher is better), sampling speed (images/s), training stability (loss "
        "spread over the second half, lower is steadier), the gate verdict. "
        f"★ marks the champion{'' if champ else ' (none yet)'}."
    )
    cols = ["family", "FID", "diversity", "images/s", "loss spread", "strengths", "limits", "gate"]
    return Table("1", "Comparison", caption, cols, rows, figures=["samples", "pr_scatter"])


def table_parameters(inputs: ReportInputs) -> Table:
    rows = []
    for f, fam in inputs.families.items():
        size = fam.summary.get("checkpoint_bytes") if available(fam.summary) else None
        if not size and available(fam.checkpoint):
            size = fam.checkpoint.stat().st_size
        mb = size / 2**20 if size else NA(f"{f}: no checkpoint size")
        total = metric(fam, "params")
        if isinstance(total, NA) and available(fam.summary):
            total = fam.summary.get("params", total)
        gen = metric(fam, "generator_params")
        if isinstance(gen, NA) and available(fam.summary):
            gen = fam.summary.get("generator_params", gen)
        rows.append([f, gen, total, mb])
    caption = (
        "Parameters needed to sample (generator only: e.g. a GAN without its discriminator, "
        "a VAE without its encoder), all trained parameters, and the checkpoint on disk "
        "(weights, EMA weights and optimizer state)."
    )
    return Table(
        "2", "Parameters", caption, ["family", "generator", "total", "checkpoint MiB"], rows
    )


def _reference_rows(inputs: ReportInputs, keys: list[str]) -> list[list[Any]]:
    refs = references(inputs)
    if not available(refs):
        return []
    rows = []
    for name, label in REF_NAMES.items():
        ref = refs.get(name) or {}
        rows.append([label] + [_ref_value(ref, k, name) for k in keys])
    return rows


def _ref_value(ref: dict, key: str, name: str) -> Any:
    value = ref.get(key)
    return NA(f"reference {name} has no {key!r}") if value is None else value


def _n_samples(inputs: ReportInputs) -> str:
    ns = {
        fam.metrics.get("n_samples") for fam in inputs.families.values() if available(fam.metrics)
    }
    ns.discard(None)
    return ", ".join(str(n) for n in sorted(ns)) if ns else "unknown"


def table_fidelity(inputs: ReportInputs) -> Table:
    refs = references(inputs)
    gauss = refs.get("gaussian", {}).get("fid") if available(refs) else None
    rows = []
    for f, fam in inputs.families.items():
        fid, lo, hi = metric(fam, "fid"), metric(fam, "fid_ci_low"), metric(fam, "fid_ci_high")
        ci = (
            f"[{lo:.3g}, {hi:.3g}]"
            if isinstance(lo, int | float) and isinstance(hi, int | float)
            else lo
        )
        ratio = (
            fid / gauss
            if isinstance(fid, int | float) and gauss
            else NA("no Gaussian baseline FID")
        )
        rows.append(
            [
                f,
                fid,
                ci,
                metric(fam, "kid"),
                metric(fam, "kid_std"),
                metric(fam, "precision"),
                ratio,
            ]
        )
    for row in _reference_rows(inputs, ["fid", "kid", "kid_std", "precision"]):
        rows.append(
            [
                row[0],
                row[1],
                "—",
                row[2],
                row[3],
                row[4],
                row[1] / gauss if isinstance(row[1], int | float) and gauss else "—",
            ]
        )
    caption = (
        "Fréchet distance of the domain classifier's features (FID, 95 % bootstrap interval: "
        "the sampling noise of the n samples, not the spread of retraining with other seeds), "
        "kernel distance (KID ± std), precision (share of samples on the real manifold), and "
        "FID relative to the per-pixel Gaussian baseline. The floor row is the test split "
        f"scored against the train split: no model can beat it. n = {_n_samples(inputs)} samples."
    )
    cols = ["family", "FID", "FID 95 % CI", "KID", "KID std", "precision", "FID / Gaussian"]
    return Table("3", "Fidelity", caption, cols, rows, figures=["fid_vs_step"])


def table_diversity(inputs: ReportInputs) -> Table:
    rows = []
    for f, fam in inputs.families.items():
        k, n = metric(fam, "classes_covered"), metric(fam, "num_classes")
        classes = f"{k}/{n}" if isinstance(k, int | float) and isinstance(n, int | float) else k
        rows.append(
            [
                f,
                metric(fam, "recall"),
                metric(fam, "coverage"),
                metric(fam, "density"),
                classes,
                metric(fam, "class_hist_distance"),
            ]
        )
    rows += _reference_rows(
        inputs, ["recall", "coverage", "density", "classes_covered", "class_hist_distance"]
    )
    caption = (
        "Recall (share of the real manifold the samples reach), coverage and density "
        "(Naeem et al. 2020), classes the domain classifier finds among the samples, and the "
        "distance of the sampled class histogram to the real one (0 = same proportions)."
    )
    cols = [
        "family",
        "recall",
        "coverage",
        "density",
        "classes covered",
        "class-histogram distance",
    ]
    return Table("4", "Diversity", caption, cols, rows)


def table_calibration(inputs: ReportInputs) -> Table:
    """Can this metric tell? The calibration references and the families on one scale."""
    cols = ["image set", "FID", "FID on the scale", "precision / floor", "recall / floor",
            "coverage / floor", "copying z", "n"]  # fmt: skip
    refs = references(inputs)
    if not available(refs):
        return Table("3b", "Can this metric tell?", "", cols, unavailable=refs.reason)
    rows = []
    for name, label in CALIBRATION_NAMES.items():
        ref = refs.get(name)
        if ref is None:
            rows.append([label, *[NA(f"no {name} reference (a one-class dataset)")] * 7])
            continue
        rows.append([label, *[_ref_value(ref, k, name) for k in CALIBRATION_KEYS],
                     ref.get("n_samples")])  # fmt: skip
    for f, fam in inputs.families.items():
        rows.append([f, *[metric(fam, k) for k in CALIBRATION_KEYS], metric(fam, "n_samples")])
    caption = (
        "The featurizer stage scores image sets of known quality and fails unless FID ranks "
        "real held-out images below their 1-pixel blur, and the blur below the structure-free "
        "sets, each by featurizer.calibration_margin. Those references are this dataset's "
        "scale: 'FID on the scale' is 0 for real held-out images and 1 for their blur; "
        "precision, recall and coverage are shares of what real held-out images get; the "
        "data-copying z (Meehan et al. 2020) is about 0 for fresh real images and far below "
        "0 for copies of training images. The gate's default thresholds are in these units."
    )
    return Table("3b", "Can this metric tell?", caption, cols, rows)
