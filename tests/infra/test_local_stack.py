"""infra/local/start.sh and stop.sh: the whole stack on 127.0.0.1, really used, stopped by PID.

One start, then what a user does with it: `genforge storage check`, an MLflow run
whose artifact lands in the S3 bucket, and a Prefect flow run picked up by the
process worker. Then stop.sh must leave no process and no open port behind, and the
credentials must appear in none of the services' logs.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.storage.servers import free_port, port_open

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).parents[2]
LOCAL = REPO / "infra" / "local"
SERVICES = ("s3", "mlflow", "prefect-server", "worker")

HELLO_FLOW = """
from prefect import flow

@flow
def hello(name: str) -> str:
    return f"hello {name}"
"""

DEPLOY_AND_RUN = r"""
import sys
from prefect import flow
from prefect.deployments import run_deployment
source, pool = sys.argv[1], sys.argv[2]
flow.from_source(source, "hello.py:hello").deploy("hello", work_pool_name=pool)
run = run_deployment("hello/hello", parameters={"name": "stack"}, timeout=90)
print(run.state.type.value)
"""


def stack_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_", "PREFECT_"))}
    return {
        **env,
        "GENFORGE_STACK_DIR": str(tmp_path / "stack"),
        "S3_PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()),
        "PREFECT_PORT": str(free_port()),
        "S3_BUCKET": "stack-test",
        "AWS_ACCESS_KEY_ID": "stackkey" + os.urandom(6).hex(),
        "AWS_SECRET_ACCESS_KEY": "stacksecret" + os.urandom(12).hex(),
        "PREFECT_WORKER_QUERY_SECONDS": "1",  # pick the flow run up quickly
    }


def client_env(env: dict[str, str]) -> dict[str, str]:
    """What `source infra/local/stack.env` gives a shell (the derived URLs)."""
    out = subprocess.run(
        ["bash", "-c", f"source {LOCAL / 'stack.env'} && env -0"],
        env=env,
        capture_output=True,
        check=True,
    ).stdout
    pairs = (item.split(b"=", 1) for item in out.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode() for k, v in pairs} | {"PYTHONPATH": str(REPO)}


def run(cmd: list[str], env: dict[str, str], cwd: Path = REPO, timeout: float = 240):
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def pids(env: dict[str, str]) -> dict[str, int]:
    folder = Path(env["GENFORGE_STACK_DIR"]) / "pids"
    return {p.stem: int(p.read_text()) for p in folder.glob("*.pid")}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_start_use_stop(tmp_path):
    env = stack_env(tmp_path)
    started = run([str(LOCAL / "start.sh")], env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        recorded = pids(env)
        assert set(recorded) == set(SERVICES) and all(map(alive, recorded.values()))
        use_the_stack(tmp_path, client_env(env))
    finally:
        stopped = run([str(LOCAL / "stop.sh")], env, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert not any(map(alive, recorded.values())), "stop.sh left a service running"
    assert not pids(env), "stop.sh left PID files behind"
    for var in ("S3_PORT", "MLFLOW_PORT", "PREFECT_PORT"):
        assert not port_open(int(env[var])), var
    logs = b"".join(p.read_bytes() for p in (tmp_path / "stack" / "logs").glob("*.log"))
    # Stopped by SIGINT (graceful, or forced by the second SIGINT when the worker is still
    # busy after 10 s; both seen in CI), not by stop.sh's TERM/KILL fallback.
    worker_log = (tmp_path / "stack" / "logs" / "worker.log").read_bytes()
    assert b"Received SIGINT. Sending SIGINT to the process worker" in worker_log
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[var].encode() not in logs, f"{var} leaked into a log"


def use_the_stack(tmp_path: Path, env: dict[str, str]) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("storage: {backend: s3, s3_bucket: stack-test}\n")
    check = run(
        [
            str(REPO / ".venv/bin/python"),
            "-m",
            "genforge.cli",
            "--params",
            str(params),
            "storage",
            "check",
        ],
        env,
    )
    assert check.returncode == 0 and "bucket stack-test: exists, writable" in check.stdout, (
        check.stderr
    )

    import mlflow

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.create_experiment("stack")
    run_id = client.create_run(exp).info.run_id
    (tmp_path / "note.txt").write_text("on s3\n")
    client.log_artifact(run_id, str(tmp_path / "note.txt"))
    bucket = tmp_path / "stack" / "s3" / "stack-test" / "mlflow"
    assert [p.read_text() for p in bucket.rglob("note.txt")] == ["on s3\n"]

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "hello.py").write_text(HELLO_FLOW)
    flow_run = run(
        [str(REPO / ".venv/bin/python"), "-c", DEPLOY_AND_RUN, str(tmp_path / "flows"), "cpu"], env
    )
    assert flow_run.returncode == 0, flow_run.stderr[-3000:]
    assert flow_run.stdout.strip().splitlines()[-1] == "COMPLETED"


def test_a_taken_port_is_a_clear_error(tmp_path):
    env = stack_env(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["S3_PORT"])))
        squatter.listen()
        result = run([str(LOCAL / "start.sh")], env, timeout=60)
    assert result.returncode == 1
    assert f"port 127.0.0.1:{env['S3_PORT']} is taken" in result.stderr
    assert not pids(env)
