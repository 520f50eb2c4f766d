"""`kill -9` of the retrain flow process while a family trains (issue 18's fault matrix).

The flow runs each stage as a subprocess, so the `genforge train` it started outlives
it and still holds the family lock (models/.gan.lock): the rerun's train stage while it
lives fails at once (it does not wait), naming that PID, and trains nothing into the
directory. Once it is gone too (the
machine's crash, here its own SIGKILL) the rerun resumes the last checkpoint, completes,
leaves `dvc status` clean, and the EMA weights equal those of an uninterrupted run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from genforge.config import load_params
from genforge.training.checkpoint import load_checkpoint
from genforge.training.run import train_family
from tests.flows.conftest import BIN, make_tiny_repo, prefect_env, run_ok
from tests.training.test_threads import digest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAMILY = "gan"
STEPS = 600  # the kill lands mid-run, and the orphan is still training afterwards


def wait_for(what: str, check, proc: subprocess.Popen | None = None, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the flow exited {proc.returncode} before {what}")
        time.sleep(0.1)
    raise AssertionError(f"no {what} after {timeout} s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_flow_killed_during_training_then_a_rerun_resumes_to_the_same_weights(tmp_path):
    repo = make_tiny_repo(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["models"][FAMILY]["steps"] = STEPS
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "commit", "-qam", "longer gan"], cwd=repo, check=True)
    log = repo / "models" / FAMILY / "train_log.jsonl"
    lock = repo / "models" / f".{FAMILY}.lock"

    flow_cmd = [sys.executable, "-m", "flows.retrain"]
    env = prefect_env(tmp_path / "prefect-1")
    with (tmp_path / "flow-1.log").open("w") as out:
        flow = subprocess.Popen(
            flow_cmd,
            cwd=repo,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its orphans (trainer, ephemeral Prefect) are ours to end
        )
    trainer = None
    try:
        wait_for("first training step", lambda: log.is_file() and log.read_text().strip(), flow)
        trainer = int(
            wait_for("lock holder", lambda: lock.is_file() and lock.read_text().split())[0]
        )
        os.kill(flow.pid, signal.SIGKILL)
        flow.wait()
        assert alive(trainer), "the trainer died with the flow: nothing to lock against"

        # The rerun's train stage while the orphaned trainer holds the lock (run at once:
        # a whole flow rerun reaches its train stage after the orphan may have finished).
        rerun = subprocess.run(
            [str(BIN / "genforge"), "train", "--family", FAMILY],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert alive(trainer), "the orphan finished first: raise STEPS"
        assert rerun.returncode != 0, "a second trainer ran into a locked model directory"
        assert f"family {FAMILY} is being trained by PID {trainer}" in rerun.stderr, rerun.stderr
        assert alive(trainer)  # the refused rerun did not disturb it

        os.kill(trainer, signal.SIGKILL)  # the crash takes the trainer too
        wait_for("the trainer's end", lambda: not alive(trainer), timeout=30)
        step = int(load_checkpoint(repo / "models" / FAMILY / "checkpoint.pt")["step"])
        assert 0 < step < STEPS, f"killed at step {step}: nothing left to resume"
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(flow.pid, signal.SIGKILL)

    run_ok(flow_cmd, cwd=repo, env=prefect_env(tmp_path / "prefect-3"), timeout=900)
    status = run_ok([str(BIN / "dvc"), "status"], cwd=repo, env=env).stdout
    assert "up to date" in status, status
    resumed = load_checkpoint(repo / "models" / FAMILY / "checkpoint.pt")
    assert int(resumed["step"]) == STEPS

    torch_threads = torch.get_num_threads()
    reference = tmp_path / "uninterrupted"
    train_family(
        load_params(repo / "params.yaml"),
        FAMILY,
        repo / "data" / "prepared",
        reference,
        progress=False,
    )
    torch.set_num_threads(torch_threads)
    expected = load_checkpoint(reference / "checkpoint.pt")
    assert digest(resumed["ema"]) == digest(expected["ema"])
