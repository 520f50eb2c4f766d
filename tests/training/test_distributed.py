"""DDP with two CPU processes (gloo) started by torchrun, and a real SIGKILL + resume."""

from __future__ import annotations

import json
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


def _torchrun_worker(prepared_dir: Path, out: Path, steps: int) -> subprocess.Popen:
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
        str(out),
        str(steps),
    ]
    return subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (torchrun starts each rank in a session of its own)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _kill_job(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun and both ranks at once, as a lost node or an OOM-killed pod would."""
    for pid in [proc.pid, *_descendants(proc.pid)]:
        os.kill(pid, signal.SIGKILL)


def test_ddp_sigkill_of_both_ranks_then_resume_equals_uninterrupted(prepared_dir, tmp_path):
    """Each rank draws its own noise (seed + 1 + rank); a resume must restore each rank's
    own RNG state, not rank 0's on every rank."""
    steps = 300
    whole = _torchrun_worker(prepared_dir, tmp_path / "whole", steps)
    assert whole.wait(timeout=300) == 0, whole.stderr.read().decode()[-3000:]

    killed = _torchrun_worker(prepared_dir, tmp_path / "killed", steps)
    ckpt = tmp_path / "killed" / "model" / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    ranks = _descendants(killed.pid)
    _kill_job(killed)
    killed.wait(timeout=30)
    for pid in ranks:  # reaped by init once torchrun is gone
        while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
            time.sleep(0.05)
    killed_at = load_checkpoint(ckpt)["step"]
    assert 0 < killed_at < steps, "the kill must land mid-run; raise `steps` if training got faster"

    resumed = _torchrun_worker(prepared_dir, tmp_path / "killed", steps)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-3000:]
    a = load_checkpoint(tmp_path / "whole/model/checkpoint.pt")
    b = load_checkpoint(ckpt)
    assert a["step"] == b["step"] == steps
    assert (
        json.loads((tmp_path / "killed/model/train_summary.json").read_text())["resumed_from"]
        == killed_at
    )
    for key in a["model"]:
        assert (a["model"][key] == b["model"][key]).all(), key
    assert (tmp_path / "killed/rank0.txt").read_text() == (
        tmp_path / "killed/rank1.txt"
    ).read_text()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"
