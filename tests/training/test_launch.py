"""`train.nproc_per_node: 2`: `genforge train` starts itself under torchrun (2 gloo ranks).

The documented equivalence: it is exactly the hand-typed
`torchrun --standalone --nproc-per-node 2 -m genforge.cli train --family F`, so both
end with bit-identical weights (and DDP keeps every rank's weights identical, see
test_distributed.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import tiny_family

from genforge.config import TrainConfig
from genforge.errors import GenforgeError
from genforge.training import launch

REPO = Path(__file__).parents[2]


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE")}
    return {**clean, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def project(tmp_path: Path, prepared_dir: Path, name: str, nproc: int) -> Path:
    root = tmp_path / name
    shutil.copytree(prepared_dir, root / "data" / "prepared")
    params = {
        "data": {"source": "shapes", "image_size": 8, "channels": 3},
        "models": {"families": ["vae"], "vae": tiny_family("vae", steps=4)},
        "train": {"device": "cpu", "nproc_per_node": nproc, "sample_every": 1000},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def summary(root: Path) -> dict:
    return json.loads((root / "models/vae/train_summary.json").read_text())


@pytest.mark.slow
def test_nproc_per_node_2_launches_torchrun_and_equals_the_manual_command(prepared_dir, tmp_path):
    auto = project(tmp_path, prepared_dir, "auto", nproc=2)
    cmd = [sys.executable, "-m", "genforge.cli", "train", "--family", "vae"]
    result = subprocess.run(cmd, cwd=auto, env=env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary(auto)["world_size"] == 2 and summary(auto)["steps"] == 4

    manual = project(tmp_path, prepared_dir, "manual", nproc=2)
    by_hand = launch.torchrun_command(2, "params.yaml", "vae")
    result = subprocess.run(
        by_hand, cwd=manual, env=env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary(manual)["weights_sha256"] == summary(auto)["weights_sha256"]


def test_a_failing_torchrun_is_one_clear_error():
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    with pytest.raises(
        GenforgeError, match="training vae on 2 processes under torchrun failed with exit code 3"
    ):
        launch.run_torchrun(failing, "vae", 2)


def test_single_process_and_ranks_do_not_relaunch(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert launch.launch_if_needed(TrainConfig(device="cpu"), "params.yaml", "vae") is False
    monkeypatch.setenv("LOCAL_RANK", "0")  # a rank torchrun started: never recurse
    cfg = TrainConfig(device="cpu", nproc_per_node=4)
    assert launch.launch_if_needed(cfg, "params.yaml", "vae") is False


def test_more_ranks_than_gpus_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(launch.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(launch.torch.cuda, "device_count", lambda: 1)
    with pytest.raises(GenforgeError, match="nproc_per_node is 2 but this machine has 1 GPU"):
        launch.launch_if_needed(TrainConfig(device="cuda", nproc_per_node=2), "p.yaml", "vae")
