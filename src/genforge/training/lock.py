"""One trainer per model directory: an exclusive lock beside it.

Two trainers writing one `models/<family>` (two flow runs, a `dvc repro` by hand during
a flow, a retried deployment run) interleave their step logs and snapshots, and
`dvc commit --force` can then record one run's checkpoint with the other's log.
`family_lock` takes an `flock` on ``<parent>/.<name>.lock`` — beside the directory, not
in it, so DVC's hash of `models/<family>` (a `persist` out) never includes it — and a
second trainer fails at once naming the holder's PID and host. The kernel drops the
lock when its holder exits in any way (SIGKILL included), so a file left behind by a
crash never blocks the rerun.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genforge.errors import GenforgeError

# Locks this process holds, by (lock file, thread): `genforge train` takes the lock
# before opening its MLflow run and `train_family` takes it again inside.
_HELD: dict[tuple[Path, int], int] = {}


class FamilyLocked(GenforgeError):
    """Another process is training into the same model directory."""


def lock_path(out_dir: Path) -> Path:
    """The lock file of a model directory: ``models/.gan.lock`` for ``models/gan``."""
    out = Path(out_dir).resolve()
    return out.parent / f".{out.name}.lock"


@contextmanager
def family_lock(out_dir: Path, family: str, enabled: bool = True) -> Iterator[None]:
    """Hold `out_dir`'s training lock, or raise FamilyLocked naming the holder.

    Args:
        out_dir: the model directory (models/<family>).
        family: named in the error.
        enabled: False on DDP ranks other than 0 (rank 0 holds it for the job).
    """
    path = lock_path(out_dir)
    key = (path, threading.get_ident())
    if not enabled or key in _HELD:
        _HELD[key] = _HELD.get(key, 0) + 1
        try:
            yield
        finally:
            _HELD[key] -= 1
            if not _HELD[key]:
                del _HELD[key]
        return
    fd = _acquire(path, Path(out_dir), family)
    _HELD[key] = 1
    try:
        yield
    finally:
        del _HELD[key]
        path.unlink(missing_ok=True)  # still locked: a racing opener sees the inode change
        os.close(fd)


def _acquire(path: Path, out_dir: Path, family: str) -> int:
    """Open and lock `path` without waiting; write this process's PID and host into it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").split()
            os.close(fd)
            pid, host = (holder + ["unknown", "unknown"])[:2]
            raise FamilyLocked(
                f"family {family} is being trained by PID {pid} on {host} into {out_dir} "
                f"(lock {path}); wait for it to finish or stop it, then rerun"
            ) from None
        # The previous holder may have unlinked the file between our open and our flock:
        # then this lock is on a file no one else can find; take the current one instead.
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    return fd
