"""Gather what the report reads: metrics, training outputs, gate verdicts, studies, and the
translation model's metrics, grid and gate verdict (read as files: no translation code).

Every optional input that is missing or unreadable becomes an `NA` carrying the
reason, so the report renders "not available (reason)" instead of crashing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genforge.layout import (
    COPIES_GRID,
    FOOLED_GRID,
    GRID,
    STEP_LOG,
    TRAIN_SUMMARY,
    TRANSLATION,
    Layout,
)


@dataclass(frozen=True)
class NA:
    """A value that is not available, and why."""

    reason: str

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"not available ({self.reason})"


def available(value: Any) -> bool:
    return not isinstance(value, NA)


@dataclass
class FamilyInputs:
    """One family's outputs; each field is the value or an `NA`."""

    family: str
    metrics: dict | NA
    summary: dict | NA
    log: list[dict] | NA
    samples_png: bytes | NA
    checkpoint: Path | NA
    fid_curve: list[dict] | NA
    fooled_png: bytes | NA
    copies_png: bytes | NA


@dataclass
class TranslationInputs:
    """The translation model's outputs (the `translate` stage, the flow's translation gate);
    `metrics` is an NA when the file is missing or says the translation is disabled."""

    metrics: dict | NA
    grid_png: bytes | NA
    log: list[dict] | NA
    checkpoint: Path | NA
    gate: dict | NA


@dataclass
class ReportInputs:
    families: dict[str, FamilyInputs]
    gate: dict | NA
    studies: dict | NA
    layout: Layout
    translation: TranslationInputs
    extra: dict[str, Any] = field(default_factory=dict)


def read_json(path: Path, what: str) -> dict | NA:
    """A JSON object from `path`, or NA naming the file and the problem."""
    if not path.is_file():
        return NA(f"{what}: {path} is missing")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return NA(f"{what}: {path} is unreadable ({exc.__class__.__name__})")
    if not isinstance(value, dict):
        return NA(f"{what}: {path} does not hold a JSON object")
    return value


def read_jsonl(path: Path, what: str) -> list[dict] | NA:
    """JSON lines from `path` (blank lines skipped), or NA."""
    if not path.is_file():
        return NA(f"{what}: {path} is missing")
    try:
        rows = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return NA(f"{what}: {path} is unreadable ({exc.__class__.__name__})")
    if not rows:
        return NA(f"{what}: {path} is empty")
    return rows


def read_records(path: Path, what: str) -> list[dict] | NA:
    """A JSON array of records (a DVC plot file, genforge.plots), or NA."""
    if not path.is_file():
        return NA(f"{what}: {path} is missing")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return NA(f"{what}: {path} is unreadable ({exc.__class__.__name__})")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return NA(f"{what}: {path} does not hold a JSON array of records")
    if not rows:
        return NA(f"{what}: {path} is empty")
    return rows


def read_png(path: Path, what: str) -> bytes | NA:
    if not path.is_file():
        return NA(f"{what}: {path} is missing")
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG"):
        return NA(f"{what}: {path} is not a PNG file")
    return data


def load_family(layout: Layout, family: str) -> FamilyInputs:
    """Read models/<family>/*, metrics/<family>.json, evals/<family>/* and its FID curve."""
    mdir, evals, ckpt = layout.model_dir(family), layout.evals(family), layout.checkpoint(family)
    return FamilyInputs(
        family=family,
        metrics=read_json(layout.metrics(family), "evaluation metrics"),
        summary=read_json(mdir / TRAIN_SUMMARY, "training summary"),
        log=read_jsonl(mdir / STEP_LOG, "training log"),
        samples_png=read_png(mdir / GRID, "sample grid"),
        checkpoint=ckpt if ckpt.is_file() else NA(f"checkpoint: {ckpt} is missing"),
        fid_curve=read_records(layout.fid_plot(family), "FID curve"),
        fooled_png=read_png(evals / FOOLED_GRID, "fooled samples"),
        copies_png=read_png(evals / COPIES_GRID, "closest pairs"),
    )


def load_translation(layout: Layout) -> TranslationInputs:
    """Read metrics/cyclegan.json, evals/cyclegan/translations.png, the translation's training
    log and checkpoint, and gate/translation.json; a disabled translation is an NA whose
    reason is the one the `translate` stage wrote."""
    path = layout.metrics(TRANSLATION)
    metrics = read_json(path, "translation metrics (written by the `translate` stage)")
    if available(metrics) and metrics.get("enabled") is not True:
        why = metrics.get("reason") or "enabled is not true"
        metrics = NA(f"the translation model is disabled: {why} ({path})")
    ckpt = layout.checkpoint(TRANSLATION)
    return TranslationInputs(
        metrics=metrics,
        # a grid or log left from an earlier enabled run is not shown beside a disabled one
        grid_png=read_png(layout.translation_grid, "translation grid")
        if available(metrics)
        else metrics,
        log=read_jsonl(layout.model_dir(TRANSLATION) / STEP_LOG, "translation training log"),
        checkpoint=ckpt if ckpt.is_file() else NA(f"checkpoint: {ckpt} is missing"),
        gate=read_json(
            layout.translation_gate,
            "translation gate report (written by the Prefect flow's translation gate)",
        ),
    )


def load_inputs(layout: Layout, families: list[str]) -> ReportInputs:
    """Everything the tables and figures need, read once."""
    return ReportInputs(
        families={f: load_family(layout, f) for f in families},
        gate=read_json(
            layout.gate_report, "gate report (written by the Prefect flow's promotion gate)"
        ),
        studies=read_json(layout.studies, "studies (genforge study)"),
        layout=layout,
        translation=load_translation(layout),
    )


def references(inputs: ReportInputs) -> dict[str, dict] | NA:
    """The calibration references (floor, blur, ..., noise) from the first metrics file
    that has them."""
    for fam in inputs.families.values():
        if available(fam.metrics) and isinstance(fam.metrics.get("reference"), dict):
            return fam.metrics["reference"]
    return NA("no metrics file holds reference points")


def champion(inputs: ReportInputs) -> str | None:
    """The champion's family according to the gate report, if any."""
    if not available(inputs.gate):
        return None
    champ = inputs.gate.get("champion")
    return champ.get("family") if isinstance(champ, dict) else None
