"""The `genforge` console script: help texts, exit codes, and ingest+prepare end to end."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genforge.cli import COMMANDS

GENFORGE = Path(sys.executable).with_name("genforge")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(GENFORGE), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert COMMANDS[command][1][:30] in result.stdout.replace("\n", " ").lower()


def test_unknown_family_is_refused_by_the_parser():
    result = run("train", "--family", "biggan")
    assert result.returncode == 2
    assert "invalid choice: 'biggan'" in result.stderr


def _digests(root: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "data" / "prepared").iterdir())
    }


def test_ingest_and_prepare_are_deterministic(tmp_path):
    params = {"data": {"source": "digits", "image_size": 12}}
    digests = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        for command in ("ingest", "prepare"):
            result = run(command, cwd=root)
            assert result.returncode == 0, result.stderr
        digests.append(_digests(root))
    assert digests[0] == digests[1]
    assert set(digests[0]) == {"train.npz", "test.npz", "meta.json"}


def test_bad_data_exits_1_with_one_line_naming_the_file(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    params = {"data": {"source": "npz", "path": str(tmp_path / "bad.npz")}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run("ingest", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'bad.npz'}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "raw").exists()
