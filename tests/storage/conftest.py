"""Fixtures: a real `rclone serve s3` on 127.0.0.1 per test, stopped by PID afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.storage.servers import S3Server

REPO = Path(__file__).parents[2]


@pytest.fixture
def s3(tmp_path):
    server = S3Server(tmp_path / "s3").start()
    yield server
    server.stop()


def write_params(path: Path, s3: S3Server | None, bucket: str, **storage) -> Path:
    """A params file whose storage section points at `s3` (and nothing else changed)."""
    section = {"backend": "s3", "s3_bucket": bucket, **storage}
    if s3 is not None:
        section.setdefault("s3_endpoint", s3.endpoint)
    path.write_text(yaml.safe_dump({"storage": section}))
    return path


def genforge(*args: str, env: dict[str, str], cwd: Path | None = None):
    """Run the real CLI in a subprocess; return the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", "genforge.cli", *args],
        env={**env, "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
