"""Two retrain flows started at the same moment on one checkout (issue 18's fault matrix).

Both reach the same DVC stages, model directories and registry: a second flow must fail
clearly (the family lock, DVC's repo lock, git's index lock) or wait its turn, never
write into a directory the other is training into, never move an alias half-way. After
it, the checkpoints load, every train_log.jsonl line parses, the champion passed its
gate against the version it replaced, and a third run completes with `dvc status`
clean."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import pytest

from genforge.config import load_params
from genforge.training.checkpoint import load_checkpoint
from tests.faults.conftest import assert_invariant
from tests.flows.conftest import BIN, TINY_FAMILIES, make_tiny_repo, prefect_env, run_ok

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A refused flow must say which of these stopped it, in words a user can act on.
CLEAR = (
    "is being trained by PID",  # genforge's family lock (models/.<family>.lock)
    "is busy, it is being blocked by",  # DVC's rwlock on a stage's outs (.dvc/tmp/rwlock)
    "Unable to acquire lock",  # DVC's repository lock (.dvc/tmp/lock)
    "index.lock",  # git's index lock, when both record their lineage at once
)
# What a reader of a half-written file raises: none may appear in either flow's output.
CORRUPT = (
    "PytorchStreamReader",
    "UnpicklingError",
    "BadZipFile",
    "JSONDecodeError",
    "EOFError",
    "unfinished alias move",
)


def flow_env(tmp_path, name: str, tracking: str) -> dict[str, str]:
    env = prefect_env(tmp_path / f"prefect-{name}")  # each its own temporary Prefect server
    env["MLFLOW_TRACKING_URI"] = tracking
    env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    return env


def test_two_flows_at_once_leave_one_champion_and_loadable_models(mlflow, tmp_path):
    repo = make_tiny_repo(tmp_path / "repo")  # its gate lets tiny models pass (a champion)
    cmd = [sys.executable, "-m", "flows.retrain"]
    flows, logs = [], [tmp_path / "flow-a.log", tmp_path / "flow-b.log"]
    try:
        for name, log in zip("ab", logs, strict=True):
            with log.open("w") as out:
                flows.append(
                    subprocess.Popen(
                        cmd,
                        cwd=repo,
                        env=flow_env(tmp_path, name, mlflow.url),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its trainers are ours to end on failure
                    )
                )
        codes = [flow.wait(timeout=1200) for flow in flows]
    finally:
        for flow in flows:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(flow.pid, signal.SIGKILL)

    outputs = [log.read_text() for log in logs]
    for code, text, log in zip(codes, outputs, logs, strict=True):
        tail = text[-4000:]
        assert not [c for c in CORRUPT if c in text], f"{log.name} read a corrupt file:\n{tail}"
        if code != 0:
            assert any(c in text for c in CLEAR), f"{log.name} exited {code} unclearly:\n{tail}"
    assert 0 in codes, f"neither flow completed: {codes}\n{outputs[0][-3000:]}"

    params = load_params(repo / "params.yaml")
    assert_invariant(params, repo)
    for family in TINY_FAMILIES:
        ckpt = load_checkpoint(repo / "models" / family / "checkpoint.pt")
        assert int(ckpt["step"]) == params.models.family(family).steps, family
        lines = (repo / "models" / family / "train_log.jsonl").read_text().splitlines()
        assert lines and all(json.loads(line) for line in lines), family
        assert not (repo / "models" / f".{family}.lock").exists(), f"{family} lock left behind"

    run_ok(cmd, cwd=repo, env=flow_env(tmp_path, "c", mlflow.url), timeout=900)
    status = run_ok([str(BIN / "dvc"), "status"], cwd=repo, env=prefect_env(tmp_path / "p")).stdout
    assert "up to date" in status, status
    assert_invariant(params, repo)
