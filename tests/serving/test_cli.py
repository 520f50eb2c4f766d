"""`genforge serve` refuses what it cannot do in one line, exit 1, before loading anything."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

GENFORGE = Path(sys.executable).with_name("genforge")


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "params.yaml").write_text("{}\n")
    return subprocess.run(
        [str(GENFORGE), "serve", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_bad_options_are_named(tmp_path):
    result = serve(tmp_path, "--port", "70000", "--poll-s", "0")
    assert result.returncode == 1, result.stderr
    assert "--port 70000: Input should be less than or equal to 65535" in result.stderr
    assert "--poll-s 0.0: Input should be greater than 0" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()  # nothing was opened


def test_an_address_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = serve(tmp_path, "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
