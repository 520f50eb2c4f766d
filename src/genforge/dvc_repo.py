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
import shlex
import shutil
import subprocess
import sys
import time
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
    # MLflow's INFO lines and download bars: nothing a user can act on (flows/__init__.py)
    env.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    env.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch reads it at start-up
    return env


def dvc(*args: str, cwd: Path | None = None, capture: bool = False) -> str:
    """Run `dvc <args>` (waiting for the repo lock); raise GenforgeError on failure."""
    cmd = [dvc_executable(), "--wait-for-lock", *args]
    result = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=capture, text=True)
    if result.returncode != 0:
        # From DVC's last "ERROR" line on: its tail alone ("(PID n): ...") drops what
        # failed, e.g. "'data/raw' is busy, it is being blocked by:" when another repro runs.
        lines = [line for line in (result.stderr or "").splitlines() if line.strip()]
        errors = [i for i, line in enumerate(lines) if line.startswith("ERROR")]
        detail = lines[errors[-1] if errors else -3 :][:6] if capture else []
        raise GenforgeError(
            f"`dvc {' '.join(args)}` failed with exit code {result.returncode}"
            + (": " + " / ".join(detail) if detail else "")
        )
    return result.stdout or ""


def repro(*targets: str, cwd: Path | None = None, force: bool = False) -> None:
    """`dvc repro` the targets with their output on the terminal (DVC's "Running stage"
    lines and each command's own), then one line with the wall time."""
    start = time.perf_counter()
    dvc("repro", *(["--force", "--single-item"] if force else []), *targets, cwd=cwd)
    print(f"dvc repro {' '.join(targets)}: done in {time.perf_counter() - start:.0f} s", flush=True)


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


def _dvc_yaml(cwd: Path | None) -> tuple[Path, dict]:
    path = (cwd or Path.cwd()) / "dvc.yaml"
    return path, (yaml.safe_load(path.read_text()) or {}).get("stages", {})


def _foreach_items(spec: dict, root: Path) -> list[str]:
    """A `foreach` stage's items; "${a.b}" is read from params.yaml, as DVC does."""
    items = spec["foreach"]
    if isinstance(items, str) and items.startswith("${") and items.endswith("}"):
        items = yaml.safe_load((root / "params.yaml").read_text()) or {}
        for key in spec["foreach"][2:-1].split("."):
            items = items.get(key) if isinstance(items, dict) else None
    if not isinstance(items, list | dict):
        raise GenforgeError(
            f"dvc.yaml: foreach {spec['foreach']!r} is not a list in {root / 'params.yaml'}"
        )
    return [str(item) for item in items]


def known_stages(cwd: Path | None = None) -> list[str]:
    """Every stage name dvc.yaml declares, a `foreach` expanded ("train@gan", ...)."""
    path, stages = _dvc_yaml(cwd)
    return [
        f"{name}@{item}" if "foreach" in spec else name
        for name, spec in stages.items()
        for item in (_foreach_items(spec, path.parent) if "foreach" in spec else [""])
    ]


def stage_argv(stage: str, cwd: Path | None = None) -> list[str]:
    """The command dvc.yaml declares for `stage` as argv ("train@gan" resolves the foreach).

    Stage names arrive as flow parameters, so only a name dvc.yaml declares is accepted
    and the item replaces `${item}` inside single arguments: nothing is parsed by a shell.
    """
    path, stages = _dvc_yaml(cwd)
    known = known_stages(cwd)
    if stage not in known:
        raise GenforgeError(
            f"unknown stage {stage!r}: {path} declares {', '.join(known)} "
            "(foreach items from params.yaml)"
        )
    name, _, item = stage.partition("@")
    spec = stages[name]
    cmd = spec["do"]["cmd"] if "foreach" in spec else spec["cmd"]
    return [arg.replace("${item}", item) for arg in shlex.split(cmd)]


def run_stage(
    stage: str, cwd: Path | None = None, threads: int | None = None, slot: int | None = None
) -> None:
    """Run one stage's declared command (not through DVC); GenforgeError when it fails.
    `slot`: the terminal line its progress bar takes (families training at once)."""
    argv = stage_argv(stage, cwd)
    env = tool_env(threads)
    if slot is not None:
        env["GENFORGE_PROGRESS_SLOT"] = str(slot)  # training/progress.py
    start = time.perf_counter()
    try:
        result = subprocess.run(argv, cwd=cwd, env=env)
    except FileNotFoundError:
        raise GenforgeError(f"stage {stage}: {argv[0]!r} is not on PATH") from None
    if result.returncode != 0:
        raise GenforgeError(
            f"stage {stage}: `{shlex.join(argv)}` failed with exit code {result.returncode}"
        )
    print(f"stage {stage}: done in {time.perf_counter() - start:.0f} s", flush=True)


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
