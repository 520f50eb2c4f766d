"""Follow the registry's `champion` alias: poll, load in the background, swap atomically.

Requests take `follower.current` once and use that object to the end, so a swap (one
reference assignment) happens between requests and never inside one. A newer champion
that fails to load or to pass the smoke sample is recorded in `failed` and logged; the
old one keeps serving. The same failed version is not retried until the alias moves
(or `retry_s` has passed: the registry may have fixed its artifact or tag).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from genforge.registry.versions import CHAMPION
from genforge.serving.loader import LoadError, Served, load_version, now

log = logging.getLogger("genforge.serve")
KEEP_OTHER_VERSIONS = 2  # versions the page asked for by number, kept loaded (LRU)


class Follower:
    def __init__(
        self,
        client,
        name: str,
        poll_s: float,
        loader: Callable[[Any, str, str], Served] = load_version,
        retry_s: float = 300.0,
    ):
        self.client, self.name, self.poll_s, self.retry_s = client, name, poll_s, retry_s
        self.loader = loader
        self.current: Served | None = None
        self.failed: dict[str, Any] | None = None  # the newest champion that was refused
        self.registry_error: str | None = None
        self.champion_seen: str | None = None
        self.checked_at: str | None = None
        self.swaps = 0
        self._others: OrderedDict[str, Served] = OrderedDict()
        self._others_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ polling
    def champion_version(self) -> str | None:
        try:
            mv = self.client.get_model_version_by_alias(self.name, CHAMPION)
        except Exception as exc:
            text = str(exc)
            if "RESOURCE_DOES_NOT_EXIST" in text or "not found" in text.lower():
                self.registry_error = f"{self.name} has no @{CHAMPION} alias"
            else:
                self.registry_error = f"registry unreachable: {exc.__class__.__name__}"
            return None
        self.registry_error = None
        return str(mv.version)

    def poll_once(self) -> None:
        """Read the alias; load and swap in a new champion, or record why not."""
        version = self.champion_version()
        self.checked_at = now()
        if version is None:
            return
        self.champion_seen = version
        if self.current is not None and self.current.version == version:
            self.failed = None  # e.g. rolled back to the served one after a failed promotion
            return
        failed = self.failed
        if (
            failed
            and failed["version"] == version
            and time.monotonic() - failed["_at"] < self.retry_s
        ):
            return
        log.info("champion is now v%s: loading it", version)
        try:
            served = self._reuse(version) or self.loader(self.client, self.name, version)
        except LoadError as exc:
            kept = f"v{self.current.version}" if self.current else "nothing"
            self.failed = {
                "version": version,
                "error": str(exc),
                "at": now(),
                "_at": time.monotonic(),
            }
            log.error("champion v%s refused, still serving %s: %s", version, kept, exc)
            return
        old, self.current = self.current, served  # the atomic swap
        self.failed = None
        if old is not None:
            self._remember(old)  # a rollback to it then swaps back at once
        self.swaps += 1
        log.info(
            "serving v%s (%s) since %s%s",
            served.version,
            served.family,
            served.loaded_at,
            f"; was v{old.version}" if old else "",
        )

    def _reuse(self, version: str) -> Served | None:
        with self._others_lock:
            return self._others.pop(version, None)

    def _remember(self, served: Served) -> None:
        with self._others_lock:
            self._others[served.version] = served
            self._others.move_to_end(served.version)
            while len(self._others) > KEEP_OTHER_VERSIONS:
                self._others.popitem(last=False)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # never let the follower die: log and poll again
                log.exception("polling the registry failed")
            self._stop.wait(self.poll_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="champion-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------- versions by number
    def version(self, version: str | None) -> Served | None:
        """The champion (None) or a registered version by number (loaded on first use)."""
        current = self.current
        if version is None or (current is not None and current.version == str(version)):
            return current
        version = str(version)
        with self._others_lock:
            if version in self._others:
                self._others.move_to_end(version)
                return self._others[version]
        served = self.loader(self.client, self.name, version)  # LoadError to the caller
        self._remember(served)
        return served

    def health(self) -> dict[str, Any]:
        current = self.current
        failed = (
            {k: v for k, v in self.failed.items() if not k.startswith("_")} if self.failed else None
        )
        return {
            "status": "ok" if current else "no model",
            "registered_model": self.name,
            "served": current.describe() if current else None,
            "champion": self.champion_seen,
            "failed_newer_champion": failed,
            "registry_error": self.registry_error,
            "checked_at": self.checked_at,
            "poll_s": self.poll_s,
            "swaps": self.swaps,
        }
