"""`make run` of two commits side by side: wall time, per-stage times and each family's FID.

Usage (from the repository root):
    .venv/bin/python benchmarks/make_run.py --before REF [--after HEAD] [--keep DIR]
        [--set models.gan.steps=300 ...]

Clones this repository twice (REF and --after), sets up each clone's own .venv with
`make setup` (not timed), then runs `make run` in the first clone and then in the
second, one after the other on this machine, each with a Prefect home of its own that
has never been used (the first start creates Prefect's database, as on a new machine).
Prints the wall time of each and their ratio (after / before), the stage lines the flow
printed ("stage X: done in N s", "dvc repro X: done in N s"), and each family's FID with
its 95 % interval from metrics/<family>.json. `--set` applies the same params.yaml
overrides to both clones (e.g. for a quick check of the script itself). Not a test: the
default run takes about half an hour per commit on a 2-core CPU, and timings are only
comparable within one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from pipeline import override_params  # benchmarks/pipeline.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"((?:stage|dvc repro) [^:]+): done in (\d+) s")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}


def checkout(ref: str, dest: Path, overrides: list[str]) -> Path:
    """A clone of this repository at `ref` with `key=value` overrides committed in params.yaml."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    subprocess.run(["git", "checkout", "-q", ref], cwd=dest, check=True)
    if overrides:
        override_params(dest / "params.yaml", overrides)
        subprocess.run(["git", "commit", "-qam", "benchmark params"], cwd=dest, check=True,
                       env={**os.environ, **GIT_ENV})  # fmt: skip
    return dest


def make_run(repo: Path) -> dict:
    """Set up (untimed), then time `make run`; its log is repo/make-run.log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PREFECT_"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    env |= {**GIT_ENV, "PREFECT_HOME": str(repo / ".prefect-home")}
    subprocess.run(["make", "setup"], cwd=repo, env=env, check=True, capture_output=True)
    log = repo / "make-run.log"
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            ["make", "run"], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"`make run` failed in {repo} (rc {done.returncode}); see {log}")
    stages = STAGE_LINE.findall(log.read_text(errors="replace"))
    fids = {}
    for path in sorted((repo / "metrics").glob("*.json")):
        m = json.loads(path.read_text())
        if "fid" in m and "fid_ci_low" in m:
            fids[path.stem] = (m["fid"], m.get("fid_ci_low"), m.get("fid_ci_high"))
    return {"wall": wall, "stages": stages, "fids": fids}


def fid_cell(value: tuple | None) -> str:
    if value is None:
        return "-"
    fid, low, high = value
    return f"{fid:.2f} [{low:.2f}, {high:.2f}]" if low is not None else f"{fid:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit to compare against")
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--keep", type=Path, help="clone into this folder and keep the clones")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="params.yaml override for both clones")  # fmt: skip
    args = parser.parse_args()
    os.environ |= {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="genforge-make-run-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        runs = {}
        for name in ("before", "after"):
            repo = checkout(getattr(args, name), base / name, args.set)
            runs[name] = make_run(repo)
            print(
                f"{name} ({getattr(args, name)}): make run {runs[name]['wall']:.0f} s", flush=True
            )

    before, after = runs["before"], runs["after"]
    print(f"\n{os.cpu_count()} CPUs; overrides: {args.set or 'none'}")
    print(f"make run: before {before['wall']:.0f} s, after {after['wall']:.0f} s, "
          f"ratio after / before {after['wall'] / before['wall']:.2f}\n")  # fmt: skip
    print("| family | FID before [95 % CI] | FID after [95 % CI] |\n|---|---|---|")
    for family in sorted(set(before["fids"]) | set(after["fids"])):
        b, a = before["fids"].get(family), after["fids"].get(family)
        print(f"| {family} | {fid_cell(b)} | {fid_cell(a)} |")
    for name, run in runs.items():
        print(f"\n| {name}: stage | s |\n|---|---:|")
        for stage, seconds in run["stages"]:
            print(f"| {stage} | {seconds} |")


if __name__ == "__main__":
    main()
