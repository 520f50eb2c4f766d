"""`genforge run`: reproduce the DVC pipeline and print what it produced.

DVC decides what is stale (`dvc repro`), so a second run with unchanged data and
params does nothing. The Prefect flow (flows/retrain.py) wraps the same stages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from genforge.config import Params
from genforge.errors import GenforgeError

MODELS_DIR = Path("models")


def dvc_executable() -> str:
    """The `dvc` next to this interpreter (the project venv), else the one on PATH."""
    local = Path(sys.executable).with_name("dvc")
    found = str(local) if local.exists() else shutil.which("dvc")
    if not found:
        raise GenforgeError("dvc is not installed; run `make run` to set up .venv")
    return found


def dvc(*args: str) -> None:
    """Run a dvc command with this venv's bin first on PATH (stages call `genforge`)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run([dvc_executable(), *args], env=env)
    if result.returncode != 0:
        raise GenforgeError(f"`dvc {' '.join(args)}` failed with exit code {result.returncode}")


def summary_table(params: Params) -> str:
    rows = ["| family | steps | train s | images/s | params |", "|---|---:|---:|---:|---:|"]
    for family in params.models.families:
        path = MODELS_DIR / family / "train_summary.json"
        if not path.is_file():
            rows.append(f"| {family} | not trained | | | |")
            continue
        s = json.loads(path.read_text())
        rows.append(
            f"| {family} | {s['steps']} | {s['train_seconds']:.1f} | "
            f"{s['images_per_s']:.0f} | {s['params']:,} |"
        )
    return "\n".join(rows)


def run_pipeline(params: Params, params_path: str = "params.yaml") -> None:
    """Run every stale stage with `dvc repro`, then print a summary and where to look."""
    if params_path != "params.yaml":
        raise GenforgeError(
            "`genforge run` uses ./params.yaml (dvc.yaml reads it); "
            f"copy {params_path} there instead"
        )
    start = time.perf_counter()
    dvc("repro")
    print(f"\npipeline finished in {time.perf_counter() - start:.0f} s\n")
    print(summary_table(params))
    print("\nsample grids: models/<family>/samples.png; step logs: models/<family>/train_log.jsonl")
