"""The curves DVC plots: JSON arrays of records under plots/<family>/ (a leaf module).

DVC reads JSON, YAML, CSV and TSV plot files, not JSON lines, so the train log
(models/<family>/train_log.jsonl, appended while training and on resume) is written
out as plots/<family>/losses.json when training ends, and the evaluate stage writes
the FID-vs-step curve as plots/<family>/fid_vs_step.json. dvc.yaml declares both as
stage plots, so `dvc plots show` draws them and `dvc plots diff` compares runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genforge.data.atomic import write_text_atomic


def write_plot(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write `records` as one JSON array, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(records, indent=1) + "\n")
    return path


def read_plot(path: Path) -> list[dict[str, Any]]:
    return json.loads(Path(path).read_text())


def losses_plot(step_log: Path, path: Path) -> Path:
    """plots/<family>/losses.json from a train log: the step and every numeric field."""
    records = []
    for line in Path(step_log).read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        keep = {
            k: v for k, v in rec.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
        if "step" in keep:
            records.append(keep)
    return write_plot(path, records)
