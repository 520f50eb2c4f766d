"""`genforge storage push|pull`: `dvc push`/`dvc pull` that fail fast and say why.

When the S3 server goes away during a push, DVC keeps retrying every remaining
object (s3fs backs off per file), which for a few hundred files takes many minutes
before it reports anything. Here a watchdog probes the endpoint while DVC runs; once
it has been unreachable for `grace_s` seconds DVC is interrupted (SIGINT, which it
handles cleanly) and the error names the endpoint. Nothing is lost: DVC's cache is
written before any upload, S3 objects become visible only when complete, and a
second push uploads just what is missing.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from genforge.config import StorageConfig
from genforge.dvc_repo import dvc_executable
from genforge.errors import GenforgeError
from genforge.storage.dvc_remote import remote_url
from genforge.storage.s3 import make_client, resolve, s3_errors


def endpoint_up(endpoint: str, timeout: float = 2.0) -> bool:
    """True when a TCP connection to the endpoint's host and port succeeds."""
    url = urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def diagnose(cfg: StorageConfig) -> str | None:
    """Why the S3 remote cannot be used right now (one line), or None if it looks fine."""
    if cfg.backend != "s3":
        return None
    from genforge.storage.check import check_credentials

    target = resolve(cfg)
    bucket = target.buckets[0]
    try:
        with s3_errors(target, bucket):
            client = make_client(target)
            check_credentials(client, target)
            client.head_bucket(Bucket=bucket)
    except GenforgeError as exc:
        return str(exc)
    return None


def run_watched(cmd: list[str], repo: Path, endpoint: str | None, grace_s: float, poll_s: float):
    """Run `cmd`; interrupt it once `endpoint` has been unreachable for `grace_s` seconds.

    Returns (returncode, stdout, stderr, interrupted).
    """
    proc = subprocess.Popen(
        cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    down_since = None
    while True:
        try:
            out, err = proc.communicate(timeout=poll_s)  # output is kept across timeouts
            return proc.returncode, out, err, False
        except subprocess.TimeoutExpired:
            pass
        if endpoint is None or endpoint_up(endpoint):
            down_since = None
            continue
        down_since = down_since or time.monotonic()
        if time.monotonic() - down_since >= grace_s:
            proc.send_signal(signal.SIGINT)  # DVC stops cleanly on Ctrl-C
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            return proc.returncode, out, err, True


def transfer(
    direction: str,
    cfg: StorageConfig,
    repo: Path | str = ".",
    grace_s: float = 6.0,
    poll_s: float = 2.0,
) -> str:
    """`dvc push` or `dvc pull` in `repo`; return DVC's summary line, or raise one clear line.

    Args:
        direction: "push" or "pull".
        cfg: `params.storage` (the remote DVC uses is the repo's default remote).
        repo: the DVC repository.
        grace_s: seconds the S3 endpoint may be unreachable before DVC is stopped.
        poll_s: seconds between endpoint probes.
    """
    if direction not in ("push", "pull"):
        raise ValueError(f"direction must be push or pull, got {direction!r}")
    problem = diagnose(cfg)  # bad credentials, missing bucket, endpoint down: say so now
    if problem:
        raise _failure(direction, cfg, "not started", problem)
    endpoint = resolve(cfg).endpoint if cfg.backend == "s3" else None
    cmd = [dvc_executable(), direction]
    code, out, err, interrupted = run_watched(cmd, Path(repo), endpoint, grace_s, poll_s)
    if code == 0 and not interrupted:
        lines = out.strip().splitlines()
        return lines[-1] if lines else "done"
    dvc_said = " / ".join(line.strip() for line in err.strip().splitlines()[-3:] if line.strip())
    reason = diagnose(cfg) or f"DVC said: {dvc_said or f'exit code {code}'}"
    raise _failure(direction, cfg, "stopped" if interrupted else "failed", reason)


def _failure(direction: str, cfg: StorageConfig, verb: str, reason: str) -> GenforgeError:
    kept = "The local DVC cache is intact" if direction == "push" else "Nothing was lost"
    return GenforgeError(
        f"`dvc {direction}` to {remote_url(cfg)} {verb}: {reason}. {kept}; "
        f"run `genforge storage {direction}` again once that is fixed"
    )
