"""The MLflow server stops while `genforge train` runs, then starts again (issue 18's
fault matrix). Training must not die because tracking is down: it finishes and writes
its checkpoint, warns naming the server, leaves the family's run clearly unfinished
(not FINISHED), and a rerun of the stage, once the server is back, logs it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import mlflow as mlflow_lib
import pytest
import yaml

from genforge.training.checkpoint import load_checkpoint
from tests.conftest import tiny_family, tiny_params, tiny_prepared
from tests.storage.servers import BIN

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STEPS = 300  # long enough (tens of seconds on one shared core) for the stop to land mid-run


def train_project(root: Path, prepared: Path) -> Path:
    """params.yaml (tiny vae, STEPS steps) and data/prepared, as `genforge train` reads them."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "prepared").symlink_to(prepared)
    params = tiny_params(["vae"], models={"vae": tiny_family("vae", steps=STEPS)})
    (root / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json")))
    return root


def genforge_train(root: Path) -> subprocess.Popen:
    cmd = [str(BIN / "genforge"), "train", "--family", "vae"]
    return subprocess.Popen(
        cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_first_step(log: Path, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.is_file() and log.read_text().strip():
            return
        if proc.poll() is not None:
            raise AssertionError(f"train exited {proc.returncode} early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"no line in {log} after {timeout} s")


def family_run(url: str):
    client = mlflow_lib.MlflowClient(url)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.role = 'family'"
    )
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return client, runs[0]


def test_mlflow_stopped_during_training_then_a_rerun_logs_it(mlflow, tmp_path_factory, tmp_path):
    root = train_project(tmp_path / "project", tiny_prepared(tmp_path_factory))
    proc = genforge_train(root)
    try:
        wait_for_first_step(root / "models/vae/train_log.jsonl", proc)
        mlflow.stop()  # gone mid-run
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    ckpt = root / "models/vae/checkpoint.pt"
    assert proc.returncode == 0, f"training died with tracking down:\n{out}\n{err[-3000:]}"
    assert int(load_checkpoint(ckpt)["step"]) == STEPS  # finished, all steps
    assert (root / "models/vae/train_summary.json").is_file()
    assert "MLflow logging stopped at step" in err, "the stop landed after training ended"
    assert "warning" in err and f"127.0.0.1:{mlflow.port}" in err, err[-3000:]

    mlflow.start()  # same port, same store
    _, run = family_run(mlflow.url)
    assert run.info.status != "FINISHED", "a run that lost its logging is marked complete"
    assert "train_summary/steps" not in run.data.metrics

    rerun = genforge_train(root)  # resumes the finished checkpoint: no step, logs it
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, f"{out}\n{err[-3000:]}"
    assert int(load_checkpoint(ckpt)["step"]) == STEPS
    _, run = family_run(mlflow.url)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["train_summary/steps"] == STEPS
