"""DDP with two CPU processes (gloo) started by torchrun, and a real SIGKILL + resume."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tests.conftest import tiny_family

from genforge.training.checkpoint import load_checkpoint

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def test_ddp_two_cpu_ranks_end_with_identical_weights(prepared_dir, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(REPO / "tests/training/ddp_worker.py"),
        "gan",
        str(prepared_dir),
        str(tmp_path),
    ]
    result = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = (tmp_path / "rank0.txt").read_text().split()
    rank1 = (tmp_path / "rank1.txt").read_text().split()
    assert rank0 == rank1 and rank0[1] == "2"
    assert (tmp_path / "model" / "checkpoint.pt").is_file()  # written by rank 0 only


def _project(tmp_path: Path, prepared_dir: Path, name: str, steps: int) -> Path:
    root = tmp_path / name
    shutil.copytree(prepared_dir, root / "data" / "prepared")
    params = {
        "data": {"source": "shapes", "image_size": 8, "channels": 3},
        "models": {"families": ["gan"], "gan": tiny_family("gan", steps=steps)},
        "train": {"device": "cpu", "checkpoint_every": 20, "log_every": 10},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def _train(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "genforge.cli", "train", "--family", "gan"],
        cwd=root,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_then_resume_equals_uninterrupted(prepared_dir, tmp_path):
    steps = 400
    whole = _project(tmp_path, prepared_dir, "whole", steps)
    assert _train(whole).wait(timeout=300) == 0

    killed = _project(tmp_path, prepared_dir, "killed", steps)
    proc = _train(killed)
    ckpt = killed / "models" / "gan" / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = load_checkpoint(ckpt)["step"]
    assert 0 < killed_at < steps, "the kill must land mid-run; raise `steps` if training got faster"

    assert _train(killed).wait(timeout=300) == 0
    a, b = load_checkpoint(whole / "models/gan/checkpoint.pt"), load_checkpoint(ckpt)
    assert a["step"] == b["step"] == steps
    for key in a["model"]:
        assert (a["model"][key] == b["model"][key]).all(), key
