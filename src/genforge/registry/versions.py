"""One registered model per dataset: its versions, their tags and the two aliases.

Every evaluated candidate is a version tagged with its family, metrics, data hash and
the gate's verdict (`gate.passed`, `gate.reasons`; `gate.forced` with
`gate.force_reason` for a forced promotion). `champion` is what to serve; `previous`
is where `genforge rollback` goes back to. The aliases move only through
`Registry.move_champion` / `Registry.swap`, which refuse a version whose verdict neither
passed nor was forced: the registry never points at a model that failed the gate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genforge.errors import GenforgeError
from genforge.registry.gate import GATED_METRICS
from genforge.registry.lock import LOCK_SUFFIX, LOCK_WAIT_S, PromotionLock
from genforge.tracking.runs import file_sha256, read_metrics

CHAMPION = "champion"
PREVIOUS = "previous"
PASSED = "gate.passed"
REASONS = "gate.reasons"
FORCED = "gate.forced"
FORCE_REASON = "gate.force_reason"


class RegistryError(GenforgeError):
    """A registry operation that cannot be done (nothing to promote, no previous, ...)."""


class ChampionMoved(RegistryError):
    """Another promotion moved the champion after this one read it."""


ANY = object()  # move_champion(expected=ANY): no compare-and-set
NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")  # MLflow: no such alias
MOVING = "genforge.moving_aliases"  # registered-model tag: an alias move in progress


def eligible(mv) -> bool:
    """May this version carry `champion`? Only if its verdict passed or it was forced."""
    return mv.tags.get(PASSED) == "true" or mv.tags.get(FORCED) == "true"


def version_metrics(mv) -> dict[str, Any]:
    """The candidate metrics recorded on a version when it was registered."""
    return json.loads(mv.tags.get("metrics", "{}"))


def stored_verdict(mv) -> dict[str, Any]:
    return {
        "passed": mv.tags.get(PASSED) == "true",
        "forced": mv.tags.get(FORCED) == "true",
        "reasons": json.loads(mv.tags.get(REASONS, "[]")),
    }


@dataclass
class Registry:
    client: Any  # mlflow.MlflowClient
    name: str
    lock_wait_s: float = LOCK_WAIT_S
    _held: bool = field(default=False, init=False, repr=False)

    def ensure(self) -> None:
        """Create the registered model on first use."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            try:
                self.client.create_registered_model(
                    self.name, description="genforge candidates of one dataset; serve @champion"
                )
            except MlflowException:  # created meanwhile
                self.client.get_registered_model(self.name)

    def versions(self) -> list:
        """Every version, oldest first."""
        found, token = [], None
        while True:
            page = self.client.search_model_versions(
                f"name = '{self.name}'", max_results=1000, page_token=token
            )
            found += list(page)
            token = page.token
            if not token:
                break
        return sorted(found, key=lambda mv: int(mv.version))

    def get(self, version: str):
        return self.client.get_model_version(self.name, str(version))

    def latest(self, family: str):
        """The newest version of `family`, or None."""
        mine = [mv for mv in self.versions() if mv.tags.get("family") == family]
        return self.get(mine[-1].version) if mine else None

    def by_key(self, key: str):
        """The version registered for this exact candidate (metrics + checkpoint), if any."""
        mine = [mv for mv in self.versions() if mv.tags.get("candidate_key") == key]
        return self.get(mine[-1].version) if mine else None

    def alias(self, alias: str):
        """The version holding `alias`, or None."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException as exc:
            if exc.error_code in NOT_FOUND:
                return None
            raise  # a server that cannot answer is not "no champion"

    def set_tags(self, mv, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, mv.version, key, value)

    def force(self, mv, reason: str) -> Any:
        """Record a forced promotion on `mv` (who, when, why), then make it `champion`;
        returns the old champion."""
        import getpass
        from datetime import UTC, datetime

        self.set_tags(
            mv,
            {
                FORCED: "true",
                FORCE_REASON: reason.strip(),
                "gate.forced_by": getpass.getuser(),
                "gate.forced_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
        return self.move_champion(mv)

    def set_verdict(self, mv, passed: bool, reasons: list[str], extra: dict[str, str]) -> None:
        self.set_tags(mv, {PASSED: str(passed).lower(), REASONS: json.dumps(reasons), **extra})

    def _check(self, mv) -> None:
        if not eligible(self.get(mv.version)):
            raise RegistryError(
                f"{self.name} v{mv.version} failed the gate and was not forced: "
                f"refusing to make it {CHAMPION}"
            )

    def move_champion(self, mv, expected: Any = ANY) -> Any:
        """`champion` -> mv, `previous` -> the old champion; returns the old champion.

        Under the promotion lock; with `expected` (a version or None), refused with
        ChampionMoved unless the champion is still that one (compare-and-set: a gate
        compared mv with `expected`, not with whatever moved in meanwhile)."""
        with self.locked():
            old = self.alias(CHAMPION)
            if expected is not ANY and _number(old) != _number(expected):
                raise ChampionMoved(
                    f"{self.name}: the {CHAMPION} moved from v{_number(expected)} to "
                    f"v{_number(old)} while v{mv.version} was being judged"
                )
            if old is not None and old.version == mv.version:
                raise RegistryError(f"{self.name} v{mv.version} is already the {CHAMPION}")
            self._check(mv)  # checked first: a refused move changes nothing
            self._move(mv.version, old.version if old is not None else None)
        return old

    def swap(self) -> tuple[Any, Any]:
        """Rollback: `champion` <-> `previous`; returns (new champion, new previous)."""
        with self.locked():
            champ, prev = self.alias(CHAMPION), self.alias(PREVIOUS)
            if prev is None:
                raise RegistryError(
                    f"{self.name} has no '{PREVIOUS}' version to roll back to"
                    + ("" if champ else f" (and no '{CHAMPION}')")
                )
            self._check(prev)
            self._move(prev.version, champ.version if champ is not None else None)
        return prev, champ

    def _move(self, champion: str, previous: str | None) -> None:
        """Both alias writes, journalled: the plan is a tag of the registered model until
        both are done, so a failure between them (a server gone) loses nothing: the next
        `locked()` finishes it. `previous` first: until `champion` moves, both name the
        old champion, which stays served."""
        plan = json.dumps({CHAMPION: champion, PREVIOUS: previous})
        self.client.set_registered_model_tag(self.name, MOVING, plan)
        self._apply(json.loads(plan))

    def _apply(self, plan: dict[str, str | None]) -> None:
        if plan.get(PREVIOUS):
            self.client.set_registered_model_alias(self.name, PREVIOUS, plan[PREVIOUS])
        self.client.set_registered_model_alias(self.name, CHAMPION, plan[CHAMPION])
        self.client.delete_registered_model_tag(self.name, MOVING)

    def unfinished(self) -> dict[str, str | None] | None:
        """The alias move a failure interrupted, if any."""
        plan = self.client.get_registered_model(self.name).tags.get(MOVING)
        return json.loads(plan) if plan else None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the promotion lock of this registered model (re-entrant); on entry,
        finish an alias move a failure interrupted."""
        if self._held:
            yield
            return
        lock = PromotionLock(self.client, f"{self.name}{LOCK_SUFFIX}", self.lock_wait_s)
        lock.acquire()
        self._held = True
        try:
            if (plan := self.unfinished()) is not None:
                self._apply(plan)
            yield
        finally:
            self._held = False
            lock.release()


def _number(mv) -> str | None:
    return None if mv is None else str(mv.version)


# What a candidate was judged on besides its weights: a re-run evaluation that only
# measured other timings (samples_per_s) is the same candidate, not a new version.
KEYED = (*GATED_METRICS, "data_hash", "feature_extractor", "n_samples", "seed")


def candidate_key(metrics_path: Path, checkpoint: Path) -> str:
    """The `candidate_key` tag a version gets for this checkpoint judged by these metrics:
    the checkpoint's sha256 with the metrics' gated numbers and what they were scored on."""
    metrics = read_metrics(metrics_path)
    judged = {"checkpoint_sha256": file_sha256(checkpoint), **{k: metrics.get(k) for k in KEYED}}
    return hashlib.sha256(json.dumps(judged, sort_keys=True).encode()).hexdigest()[:16]


def unjudged(reg: Registry, keys: dict[str, str]) -> list[str]:
    """The families (family -> candidate key) whose candidate has no gate verdict: never
    registered, or registered by a gate run that failed before judging it. Read-only."""
    judged = {
        mv.tags.get("candidate_key")
        for mv in reg.versions()
        if PASSED in mv.tags or mv.tags.get(FORCED) == "true"
    }
    return [family for family, key in keys.items() if key not in judged]
