"""The retrain flow deployed on a real Prefect server with a process worker.

Starts `prefect server` on 127.0.0.1 and a process worker on pool `cpu` (both stopped by
PID), deploys prefect.yaml into a throw-away copy of this repository with tiny params,
triggers `retrain/retrain` and checks what a user relies on: the run completes, MLflow
holds a parent run with one child per family, the registry has a champion, `dvc status`
is clean, and a second trigger trains nothing. Also checks the cron schedule creates
scheduled runs on the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.conftest import BIN, make_tiny_repo, prefect_env, run_ok, start_server, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A tiny repo, a Prefect server, pools + deployments, and a worker on `cpu`."""
    root = tmp_path_factory.mktemp("deployed")
    repo = make_tiny_repo(root / "repo")
    env = prefect_env(root / "prefect-home")
    server, url = start_server(env, root / "server.log")
    env["PREFECT_API_URL"] = url
    worker = None
    try:
        run_ok([sys.executable, "-m", "flows.deploy", "--gpus", "1"], cwd=repo, env=env)
        worker_log = (root / "worker.log").open("w")
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "cpu", "--type", "process"],
            cwd=repo,
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        yield repo, env
    finally:
        if worker is not None:
            stop(worker, sigints=2)  # a Prefect worker needs two SIGINTs; stop it first
        stop(server)


def trigger(repo: Path, env: dict[str, str]) -> None:
    run_ok(
        [str(BIN / "prefect"), "deployment", "run", "retrain/retrain", "--watch"],
        cwd=repo,
        env=env,
        timeout=900,
    )


def mlflow_runs(repo: Path) -> list[dict]:
    code = (
        "import json, mlflow; mlflow.set_tracking_uri('sqlite:///mlflow.db');"
        "runs = mlflow.search_runs(search_all_experiments=True, output_format='list');"
        "print(json.dumps([{'id': r.info.run_id, 'tags': r.data.tags} for r in runs]))"
    )
    out = run_ok([sys.executable, "-c", code], cwd=repo, env=dict(os.environ)).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_retrain_deployment_completes_logs_promotes_and_is_idempotent(stack):
    repo, env = stack
    trigger(repo, env)

    runs = mlflow_runs(repo)
    parents = [r for r in runs if "mlflow.parentRunId" not in r["tags"]]
    children = [r for r in runs if "mlflow.parentRunId" in r["tags"]]
    assert parents, "no parent run in MLflow"
    assert {r["tags"].get("family") for r in children} >= {"gan", "vae"}
    gate = json.loads((repo / "gate" / "report.json").read_text())
    assert gate["champion"] is not None, gate

    status = run_ok([str(BIN / "dvc"), "status", "--json"], cwd=repo, env=env).stdout
    assert json.loads(status or "{}") == {}, status
    checkpoints = {p: p.stat().st_mtime_ns for p in repo.glob("models/*/checkpoint.pt")}
    assert len(checkpoints) == 3  # gan, vae and the translation (models/cyclegan)

    trigger(repo, env)  # unchanged data and params: DVC decides nothing is stale
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == checkpoints
    status = run_ok([str(BIN / "dvc"), "status", "--json"], cwd=repo, env=env).stdout
    assert json.loads(status or "{}") == {}


def test_cron_schedule_creates_scheduled_runs(stack):
    repo, env = stack
    code = (
        "from prefect.client.orchestration import get_client\n"
        "from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, "
        "FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType\n"
        "import time\n"
        "with get_client(sync_client=True) as c:\n"
        "    d = c.read_deployment_by_name('retrain/retrain')\n"
        "    print('cron', d.schedules[0].schedule.cron)\n"
        "    for _ in range(60):\n"
        "        runs = c.read_flow_runs(deployment_filter=DeploymentFilter("
        "name=DeploymentFilterName(any_=['retrain'])), flow_run_filter=FlowRunFilter("
        "state=FlowRunFilterState(type=FlowRunFilterStateType(any_=['SCHEDULED']))))\n"
        "        if runs: break\n"
        "        time.sleep(1)\n"
        "    print('scheduled', len(runs), min(r.expected_start_time for r in runs))\n"
    )
    out = run_ok([sys.executable, "-c", code], cwd=repo, env=env, timeout=120).stdout
    assert "cron 0 3 * * 1" in out
    count = int(out.split("scheduled ")[1].split()[0])
    assert count >= 1, out
