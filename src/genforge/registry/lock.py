"""The promotion lock: one alias move at a time per registered model, across processes
and machines that share the MLflow server.

MLflow has no compare-and-set on aliases or tags, but creating a registered model is
atomic: the store refuses a second one of the same name (RESOURCE_ALREADY_EXISTS,
a unique key in the database). So the lock is the registered model
`<name>.promotion-lock`, created to acquire and deleted to release; its tags say who
holds it and until when. It is held only for the few tag and alias writes of one
decision (seconds), never while a champion is re-scored (minutes): the gate re-scores
unlocked, then compares-and-sets under the lock and judges again if the champion moved.

A holder killed inside its section (kill -9) or cut off from the server leaves the lock
behind; the next promotion removes it at once when the holder's process on the same
machine is gone, else once its lease (LEASE_S) has passed. Safe as long as a live
holder finishes its writes within the lease, which is 100x what they take.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from genforge.errors import GenforgeError

LOCK_SUFFIX = ".promotion-lock"
LEASE_S = 300.0
LOCK_WAIT_S = 600.0  # a waiter gives up after this (another promotion never finished)
POLL_S = 0.25
_HELD_HERE: set[str] = set()  # tokens this process holds now


class LockError(GenforgeError):
    """The promotion lock could not be taken in time."""


@dataclass
class PromotionLock:
    client: Any  # mlflow.MlflowClient
    name: str  # the lock's registered model
    wait_s: float = LOCK_WAIT_S
    lease_s: float = LEASE_S
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    def acquire(self) -> None:
        """Create the lock model; wait while a live holder has it, break an expired one."""
        from mlflow.exceptions import MlflowException

        deadline = time.monotonic() + self.wait_s
        while True:
            host, pid = socket.gethostname(), os.getpid()
            tags = {"token": self.token, "owner": f"{host} pid {pid}", "host": host}
            tags.update(pid=str(pid), expires=f"{self._now() + self.lease_s}")
            try:
                self.client.create_registered_model(
                    self.name, tags=tags, description="genforge: a promotion is moving aliases"
                )
                _HELD_HERE.add(self.token)
                return
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            holder = self.holder()
            if holder is not None and self._abandoned(holder):
                self._delete()  # its holder died inside the section
                continue
            if time.monotonic() > deadline:
                who = holder.get("owner", "?") if holder else "?"
                raise LockError(
                    f"another promotion ({who}) holds {self.name}; waited {self.wait_s:.0f} s. "
                    f"If none is running, delete the registered model {self.name!r} and retry"
                )
            time.sleep(POLL_S)

    def holder(self) -> dict[str, str] | None:
        """The lock's tags (token, owner, expires), or None when nobody holds it."""
        from mlflow.exceptions import MlflowException

        try:
            return dict(self.client.get_registered_model(self.name).tags)
        except MlflowException:
            return None

    def _abandoned(self, holder: dict[str, str]) -> bool:
        """Its lease is over, or its process on this machine is gone (kill -9)."""
        if float(holder.get("expires", 0)) < self._now():
            return True
        if holder.get("host") != socket.gethostname() or not holder.get("pid", "").isdigit():
            return False
        if int(holder["pid"]) == os.getpid():  # ours, left by a release that failed
            return holder.get("token") not in _HELD_HERE
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False

    def release(self) -> None:
        """Delete the lock if it is still ours (an expired one may have been taken over)."""
        _HELD_HERE.discard(self.token)
        holder = self.holder()
        if holder is not None and holder.get("token") == self.token:
            self._delete()

    def _delete(self) -> None:
        from mlflow.exceptions import MlflowException

        with contextlib.suppress(MlflowException):  # released meanwhile
            self.client.delete_registered_model(self.name)

    @staticmethod
    def _now() -> float:
        return time.time()
