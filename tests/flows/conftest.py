"""Helpers for flow tests: a throw-away copy of the repo with tiny params, real servers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from genforge.config import load_params
from genforge.tracking.lineage import registered_model_name
from tests.conftest import tiny_params

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TINY_FAMILIES = ["gan", "vae"]


def tiny_params_dict() -> dict:
    """params.yaml for the flow tests: tiny data and models, gates any model passes."""
    params = tiny_params(
        TINY_FAMILIES,
        featurizer={"steps": 30, "batch_size": 16, "min_test_accuracy": 0.0},
        evaluate={"n_samples": 40, "batch_size": 40, "bootstrap": 5},
    ).model_dump(mode="json")
    params["gate"].update(
        fid_max=1e9,
        kid_max=1e9,
        precision_min=0.0,
        recall_min=0.0,
        coverage_min=0.0,
        classes_covered_min=0,
        classes_covered_share_min=0.0,
    )
    return params


def make_tiny_repo(dest: Path, **sections: dict) -> Path:
    """Copy this checkout's files (tracked + untracked, not ignored), tiny params (each of
    `sections` merged into its section), git init."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() and not rel.startswith(
            ("data/", "models/", "metrics/", "evals/", "plots/")
        ):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    params = tiny_params_dict()
    for key, value in sections.items():
        params[key] = {**params[key], **value}
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "tiny"], cwd=dest, check=True)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home}/prefect.db",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
        PREFECT_LOGGING_LEVEL="WARNING",
        OMP_NUM_THREADS="1",
    )
    env.pop("PREFECT_API_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)  # the tiny repo's params.yaml decides
    return env


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """`prefect server start` on 127.0.0.1 and a free port; waits for its health check."""
    import urllib.request

    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"prefect server did not start in 120 s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen, sigints: int = 1) -> None:
    """Stop a server by PID: SIGINT (twice for a Prefect worker), then SIGKILL."""
    for _ in range(sigints):
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def run_ok(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 300):
    """Run a command; on failure, fail with its output."""
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}"
        )
    return result


VERSIONS = r"""
import json, sys, mlflow
client = mlflow.MlflowClient("sqlite:///mlflow.db")
found = client.search_model_versions(f"name = '{sys.argv[1]}'")
print(json.dumps([dict(client.get_model_version(v.name, v.version).tags) for v in found]))
"""


def version_tags(repo: Path) -> list[dict[str, str]]:
    """The tags of every version of the repo's registered model (its sqlite:///mlflow.db)."""
    name = registered_model_name(load_params(repo / "params.yaml"))
    out = run_ok([sys.executable, "-c", VERSIONS, name], cwd=repo, env=dict(os.environ)).stdout
    return json.loads(out.strip().splitlines()[-1])
