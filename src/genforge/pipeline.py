"""The DVC side of the pipeline: staleness, commits, pushes and the data version.

The Prefect flow (flows/retrain.py) and `dvc repro` share one lineage: the flow asks
DVC which stages are stale (`dvc status`), runs exactly those stages' commands, and
records what it built with `dvc commit`, so `dvc.lock` stays the single record and
`dvc status` is clean afterwards. The flow cannot simply call `dvc repro` per family
in parallel: `dvc repro` holds the repository lock for its whole run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from genforge.errors import GenforgeError


def dvc_executable() -> str:
    """The `dvc` next to this interpreter (the project venv), else the one on PATH."""
    local = Path(sys.executable).with_name("dvc")
    found = str(local) if local.exists() else shutil.which("dvc")
    if not found:
        raise GenforgeError("dvc is not installed; run `make run` to set up .venv")
    return found


def tool_env(threads: int | None = None) -> dict[str, str]:
    """Environment for stage commands: this venv's bin first on PATH, telemetry off."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DO_NOT_TRACK", "true")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch reads it at start-up
    return env


def dvc(*args: str, cwd: Path | None = None, capture: bool = False) -> str:
    """Run `dvc <args>` (waiting for the repo lock); raise GenforgeError on failure."""
    cmd = [dvc_executable(), "--wait-for-lock", *args]
    result = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=capture, text=True)
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-3:] if capture else []
        raise GenforgeError(
            f"`dvc {' '.join(args)}` failed with exit code {result.returncode}"
            + (": " + " / ".join(detail) if detail else "")
        )
    return result.stdout or ""


def stale_stages(stages: list[str], cwd: Path | None = None) -> list[str]:
    """The subset of `stages` (e.g. "train@gan") whose deps, params or outs changed."""
    if not stages:
        return []
    report = json.loads(dvc("status", "--json", *stages, cwd=cwd, capture=True) or "{}")
    # `dvc status` also reports upstream stages; keep the ones asked about, in order.
    return [s for s in stages if s in report]


def commit(stages: list[str], cwd: Path | None = None) -> None:
    """Record the outputs of stages run outside `dvc repro` in dvc.lock and the cache."""
    if stages:
        dvc("commit", "--force", *stages, cwd=cwd, capture=True)


def stage_cmd(stage: str, cwd: Path | None = None) -> str:
    """The command dvc.yaml declares for `stage` ("train@gan" resolves the foreach)."""
    name, _, item = stage.partition("@")
    spec = yaml.safe_load(((cwd or Path.cwd()) / "dvc.yaml").read_text())["stages"][name]
    cmd = spec["do"]["cmd"] if "foreach" in spec else spec["cmd"]
    return cmd.replace("${item}", item)


def run_stage(stage: str, cwd: Path | None = None, threads: int | None = None) -> None:
    """Run one stage's declared command (not through DVC); GenforgeError when it fails."""
    cmd = stage_cmd(stage, cwd)
    result = subprocess.run(cmd, shell=True, cwd=cwd, env=tool_env(threads))
    if result.returncode != 0:
        raise GenforgeError(f"stage {stage}: `{cmd}` failed with exit code {result.returncode}")


def lock_hash(path: str, cwd: Path | None = None) -> str | None:
    """The md5 dvc.lock records for output `path` (the DVC data version), if any."""
    lock = (cwd or Path.cwd()) / "dvc.lock"
    if not lock.is_file():
        return None
    for stage in (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).values():
        for out in stage.get("outs", []):
            if out.get("path") == path:
                return out.get("md5")
    return None


def git_commit(paths: list[str], message: str, cwd: Path | None = None) -> bool:
    """Commit `paths` when they changed and this is a git work tree; True if committed."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)

    if git("rev-parse", "--is-inside-work-tree").returncode != 0:
        return False
    if not git("status", "--porcelain", "--", *paths).stdout.strip():
        return False
    env_id = ["-c", "user.name=genforge", "-c", "user.email=genforge@localhost"]
    has_id = git("config", "user.email").returncode == 0
    git("add", "--", *paths)
    result = git(*([] if has_id else env_id), "commit", "-m", message, "--", *paths)
    if result.returncode != 0:
        raise GenforgeError(f"git commit of {', '.join(paths)} failed: {result.stderr.strip()}")
    return True
