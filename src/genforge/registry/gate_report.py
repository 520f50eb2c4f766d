"""The gate report: every registry decision as gate/report.json and gate/report.md.

The JSON is what the flow's summary and the comparison report read:
``{"action", "time", "registered_model", "champion": {family, version, fid} | null,
"previous", "champion_before", "champion_stored", "champion_rescored",
"champion_note", "promoted", "forced", "reason", "gate", "families": {family:
{version, passed, forced, reasons, fid, ...}}}``. Each decision also appends one line
to gate/history.jsonl and is attached to a `gate: <action>` run under the pipeline run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genforge.data.atomic import write_text_atomic
from genforge.layout import FOLDERS, Layout
from genforge.registry.verdicts import verdict_text

COLUMNS = ("fid", "kid", "precision", "recall", "coverage", "classes_covered", "copying")
# columns shown with their place on the dataset's scale: "raw (relative)"
SCALED = {"fid", "kid", "precision", "recall", "coverage"}
LEGEND = (
    "Cells read `raw (place on this dataset's scale)`: for FID and KID 0 = real held-out "
    "images, 1 = a 1-pixel blur of them; for precision, recall and coverage 1 = what real "
    "held-out images get. copying is the data-copying z-score (below -3: memorised)."
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


def _cell(metrics: dict[str, Any], column: str) -> str:
    raw = _fmt(metrics.get(column))
    rel = metrics.get(f"{column}_rel")
    return f"{raw} ({_fmt(rel)})" if column in SCALED and rel is not None else raw


def _who(entry: dict | None) -> str:
    return f"{entry['family']} v{entry['version']}" if entry else "none"


def markdown(report: dict[str, Any]) -> str:
    """A human-readable rendering of one decision."""
    lines = [
        f"# Gate report: {report['action']} ({report['registered_model']})",
        "",
        f"- time: {report['time']}",
        f"- champion before: {_who(report.get('champion_before'))}",
        f"- champion now: {_who(report.get('champion'))}; previous: {_who(report.get('previous'))}",
    ]
    if report.get("forced"):
        lines.append(f"- **forced** promotion, reason: {report.get('reason')}")
    if report.get("champion_note"):
        lines.append(f"- note: {report['champion_note']}")
    stored, rescored = report.get("champion_stored"), report.get("champion_rescored")
    if rescored is not None:
        lines += [
            "",
            "The champion was re-scored on the current reference data; candidates are "
            "compared with the re-scored numbers, not the stored ones.",
            "",
            "| champion | " + " | ".join(COLUMNS) + " |",
            "|---|" + "---:|" * len(COLUMNS),
            "| stored | " + " | ".join(_cell(stored or {}, c) for c in COLUMNS) + " |",
            "| re-scored | " + " | ".join(_cell(rescored, c) for c in COLUMNS) + " |",
        ]
    lines += ["", LEGEND, "", "| family | version | " + " | ".join(COLUMNS) + " | verdict |"]
    lines.append("|---|---:|" + "---:|" * len(COLUMNS) + "---|")
    for family, v in report["families"].items():
        if v.get("version") is None:
            lines.append(f"| {family} | – |" + " |" * len(COLUMNS) + f" {v['reasons'][0]} |")
            continue
        verdict = verdict_text(v)
        name = f"**{family}** (champion)" if v.get("champion") else family
        cells = " | ".join(_cell(v, c) for c in COLUMNS)
        lines.append(f"| {name} | {v['version']} | {cells} | {verdict} |")
    gate = report.get("gate") or {}
    lines += ["", "Gate: " + ", ".join(f"{k} {v}" for k, v in gate.items()), ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], root: Path) -> tuple[Path, Path]:
    """Write gate/report.json and gate/report.md (atomically) and append the history."""
    json_path = Layout(Path(root)).gate_report
    out = json_path.parent
    out.mkdir(parents=True, exist_ok=True)
    paths = json_path, json_path.with_suffix(".md")
    write_text_atomic(paths[0], json.dumps(report, indent=2) + "\n")
    write_text_atomic(paths[1], markdown(report))
    with (out / "history.jsonl").open("a") as history:
        history.write(json.dumps(report, sort_keys=True) + "\n")
    return paths


def attach_report(tr, report: dict[str, Any], paths: tuple[Path, Path]) -> str:
    """Log the report as a `gate: <action>` run under the pipeline run; returns its id."""
    from mlflow.entities import Metric

    from genforge.tracking.runs import parent_run

    parent, _ = parent_run(tr)
    tags = {
        **tr.tags,
        "role": "gate",
        "action": report["action"],
        "pipeline_key": tr.key,
        "mlflow.parentRunId": parent,
    }
    champion = report.get("champion")
    if champion:
        tags.update(champion_family=champion["family"], champion_version=champion["version"])
    run = tr.client.create_run(tr.experiment_id, run_name=f"gate: {report['action']}", tags=tags)
    run_id = run.info.run_id
    try:
        for path in paths:
            tr.client.log_artifact(run_id, str(path), FOLDERS["gate"])
        promoted = 1.0 if report.get("promoted") else 0.0
        tr.client.log_batch(run_id, metrics=[Metric("promoted", promoted, _now_ms(), 0)])
        tr.client.set_terminated(run_id, "FINISHED")
    except Exception:
        tr.client.set_terminated(run_id, "FAILED")
        raise
    return run_id


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
