"""Time per stage of the retrain flow, and its orchestration overhead, in one run.

Usage (from the repository root, after `make setup`):
    .venv/bin/python benchmarks/pipeline.py [--max-parallel 2] [--set models.gan.steps=300 ...]

Clones this checkout twice into a temporary folder (same params, `--set` overrides
applied to both) and does the same work in each:

- flow: the `retrain` flow in-process (what `make run` does), timed as a whole, with
  the duration of each of its tasks read back from Prefect;
- bare: the same `genforge` commands one after another in a shell (ingest, prepare,
  featurize, train and evaluate per family, register, study, report), timed each.

Prints both tables and the ratios flow wall time / bare time, for the whole run and
for training plus evaluation alone. With `--max-parallel 1` the ratio is the cost of
orchestration (DVC status and commits, git, MLflow parent run, artifacts); with 2 (the
default) the flow also trains two families at once, so the ratio can fall below 1.
Not a test: numbers depend on the machine, and the whole default run takes ~25 min
on a 2-core CPU (each copy trains every family).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # flows/ is a top-level package of the checkout


def override_params(params_file: Path, overrides: list[str]) -> None:
    """Apply `key.sub=value` overrides (values read as YAML) to a params.yaml in place."""
    params = yaml.safe_load(params_file.read_text())
    for item in overrides:
        key, _, value = item.partition("=")
        node, *path = params, *key.split(".")
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = yaml.safe_load(value)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def clone(dest: Path, overrides: list[str]) -> Path:
    """A fresh clone of this checkout's HEAD with `key=value` overrides in params.yaml."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    override_params(dest / "params.yaml", overrides)
    subprocess.run(["git", "commit", "-qam", "benchmark params", "--allow-empty"], cwd=dest,
                   check=True, env={**os.environ, "GIT_AUTHOR_NAME": "bench",
                   "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
                   "GIT_COMMITTER_EMAIL": "bench@localhost"})  # fmt: skip
    return dest


def run_flow(repo: Path, max_parallel: int) -> tuple[float, list[tuple[str, float, float]]]:
    """Wall time of the in-process retrain flow and (task name, start, end) per task run,
    in seconds from the first task's start."""
    from flows.retrain import retrain
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    start = time.perf_counter()
    state = retrain(repo=str(repo), max_parallel=max_parallel, return_state=True)
    wall = time.perf_counter() - start
    if not state.is_completed():
        raise SystemExit(f"the flow ended {state.type.value}: {state.message}")
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=run_filter)
    tasks = sorted((t for t in tasks if t.start_time and t.end_time), key=lambda t: t.start_time)
    t0 = tasks[0].start_time
    rows = [
        (t.name, (t.start_time - t0).total_seconds(), (t.end_time - t0).total_seconds())
        for t in tasks
    ]
    return wall, rows


def run_bare(repo: Path, families: list[str]) -> list[tuple[str, float]]:
    """(command, seconds) for the same work as `genforge` commands one at a time."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    commands = [["ingest"], ["prepare"], ["featurize"]]
    commands += [[step, "--family", f] for f in families for step in ("train", "evaluate")]
    commands += [["register"], ["study"], ["report"]]
    rows = []
    for args in commands:
        start = time.perf_counter()
        done = subprocess.run(["genforge", *args], cwd=repo, env=env, capture_output=True)
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise SystemExit(f"`genforge {' '.join(args)}` failed: {' / '.join(tail)}")
        rows.append((" ".join(args), time.perf_counter() - start))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-parallel", type=int, default=2, help="flow: families at once")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="params.yaml override for both copies, e.g. models.gan.steps=300")  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

    with tempfile.TemporaryDirectory(prefix="genforge-bench-") as tmp:
        flow_repo = clone(Path(tmp) / "flow", args.set)
        bare_repo = clone(Path(tmp) / "bare", args.set)
        families = yaml.safe_load((flow_repo / "params.yaml").read_text())["models"]["families"]

        os.chdir(flow_repo)  # MLflow's sqlite store and artifacts stay in the copy
        flow_wall, flow_tasks = run_flow(flow_repo, args.max_parallel)
        os.chdir(bare_repo)
        bare = run_bare(bare_repo, families)

    bare_total = sum(s for _, s in bare)
    bare_work = sum(s for name, s in bare if name.split()[0] in ("train", "evaluate"))
    work = [(a, b) for name, a, b in flow_tasks if name.startswith("train_and_evaluate")]
    span = max(b for _, b in work) - min(a for a, _ in work) if work else 0.0

    print(f"families: {', '.join(families)}; flow max_parallel {args.max_parallel}; "
          f"{os.cpu_count()} CPUs; overrides: {args.set or 'none'}\n")  # fmt: skip
    print("| flow task | start s | duration s |\n|---|---:|---:|")
    for name, a, b in flow_tasks:
        print(f"| {name} | {a:.1f} | {b - a:.1f} |")
    print(f"| **flow wall time** | | **{flow_wall:.1f}** |\n")
    print("| bare command | s |\n|---|---:|")
    for name, seconds in bare:
        print(f"| genforge {name} | {seconds:.1f} |")
    print(f"| **bare total** | **{bare_total:.1f}** |\n")
    print(f"whole run: flow {flow_wall:.1f} s / bare {bare_total:.1f} s = "
          f"{flow_wall / bare_total:.2f}")  # fmt: skip
    if work:
        # Every family's task starts at once and waits for one of max_parallel slots, so
        # a task's duration includes its wait; the span is what the flow spent.
        print(f"train+evaluate: flow span {span:.1f} s / bare {bare_work:.1f} s = "
              f"{span / bare_work:.2f} (flow task durations include waiting for a slot)")  # fmt: skip


if __name__ == "__main__":
    main()
