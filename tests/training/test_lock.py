"""One trainer per models/<family>: a second one fails at once, naming the first's PID."""

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

from genforge.training.lock import FamilyLocked, family_lock, lock_path

REPO = Path(__file__).parents[2]

# A real trainer that pauses after step 2 until the file `go` appears.
PAUSED_TRAINER = """
import sys, time
from pathlib import Path
from genforge.config import load_params
from genforge.training.run import train_family

root = Path(sys.argv[1])

class Pause:
    def on_step(self, step, record):
        if step == 2:
            (root / "paused").touch()
            while not (root / "go").exists():
                time.sleep(0.02)

train_family(load_params(root / "params.yaml"), "vae", root / "data/prepared",
             root / "models/vae", callbacks=[Pause()], progress=False)
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def project(prepared_dir, tmp_path) -> Path:
    shutil.copytree(prepared_dir, tmp_path / "data" / "prepared")
    params = {
        "data": {"source": "shapes", "image_size": 8, "channels": 3},
        "models": {"families": ["vae"], "vae": tiny_family("vae")},
        "train": {"device": "cpu", "checkpoint_every": 3, "log_every": 1, "sample_every": 2},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def start_paused(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED_TRAINER, str(root)], env=env(), stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while not (root / "paused").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "the first trainer never reached step 2"
        time.sleep(0.05)
    return proc


def test_a_second_trainer_fails_naming_the_first_and_changes_nothing(project):
    first = start_paused(project)
    out = project / "models" / "vae"
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = subprocess.run(
        [sys.executable, "-m", "genforge.cli", "train", "--family", "vae"],
        cwd=project,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    assert f"family vae is being trained by PID {first.pid} " in second.stderr
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not (project / "mlflow.db").exists()  # failed before opening an MLflow run
    # The lock lives beside the DVC out, never in it: the out's hash cannot see it.
    assert lock_path(out).parent == out.parent and lock_path(out).is_file()

    (project / "go").touch()
    assert first.wait(timeout=120) == 0, first.stderr.read().decode()[-3000:]
    log = [json.loads(ln) for ln in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 7))
    assert not lock_path(out).exists()  # released and removed on a normal exit


def test_a_sigkilled_trainer_does_not_block_the_rerun(project):
    first = start_paused(project)
    out = project / "models" / "vae"
    with pytest.raises(FamilyLocked, match=f"PID {first.pid} "), family_lock(out, "vae"):
        pass
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert lock_path(out).is_file()  # left behind by the kill, but no longer locked
    with family_lock(out, "vae"):
        assert lock_path(out).read_text().split()[0] == str(os.getpid())
