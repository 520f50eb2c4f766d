"""Real servers for tests: `rclone serve s3` and `mlflow server`, on 127.0.0.1, stopped by PID.

Every server gets a free port, its own process group (so its children stop with it)
and a log file the tests can grep for leaked credentials.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(ready, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready")
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@dataclass
class Server:
    """One started server process; `stop()` ends its process group by PID."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    port: int
    proc: subprocess.Popen | None = None

    def start(self, ready=None, timeout: float = 60) -> Server:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: children stop with it
            )
        wait_until(ready or (lambda: port_open(self.port)), timeout, self.name, self.proc)
        return self

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # a session leader: its PID is its group id
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # children that outlived the leader
            os.killpg(pgid, signal.SIGKILL)


@dataclass
class S3Server:
    """`rclone serve s3` over a directory, with one random access key pair."""

    root: Path
    port: int = field(default_factory=free_port)
    access_key: str = field(default_factory=lambda: "gfkey" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: "gfsecret" + secrets.token_hex(16))
    args: list[str] = field(default_factory=list)  # extra rclone flags, e.g. --bwlimit
    server: Server | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.root / "s3-data"

    def client_env(self, **extra: str) -> dict[str, str]:
        """os.environ plus this server's credentials and endpoint (the standard variables)."""
        return {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            **extra,
        }

    def start(self) -> S3Server:
        self.data.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RCLONE_AUTH_KEY": f'"{self.access_key},{self.secret_key}"'}
        cmd = [str(BIN / "rclone"), "serve", "s3", "--addr", f"127.0.0.1:{self.port}"]
        cmd += ["--config", "/dev/null", *self.args, str(self.data)]
        self.server = Server("rclone serve s3", cmd, env, self.root / "rclone.log", self.port)
        self.server.start(timeout=30)
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def make_bucket(self, name: str) -> None:
        (self.data / name).mkdir(parents=True, exist_ok=True)  # rclone: a directory is a bucket


def mlflow_server(root: Path, s3: S3Server, artifacts: str, env: dict[str, str]) -> Server:
    """`mlflow server --workers 1`, sqlite backend, artifacts proxied to `artifacts` (s3://)."""
    port = free_port()
    cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
    cmd += ["--artifacts-destination", artifacts]
    env = {**env, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint}
    server = Server("mlflow server", cmd, env, root / "mlflow.log", port)
    return server.start(ready=lambda: http_ok(f"http://127.0.0.1:{port}/health"), timeout=120)
