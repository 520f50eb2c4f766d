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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.errors import GenforgeError
from genforge.registry.gate import GATED_METRICS
from genforge.tracking.runs import file_sha256, read_metrics

CHAMPION = "champion"
PREVIOUS = "previous"
PASSED = "gate.passed"
REASONS = "gate.reasons"
FORCED = "gate.forced"
FORCE_REASON = "gate.force_reason"


class RegistryError(GenforgeError):
    """A registry operation that cannot be done (nothing to promote, no previous, ...)."""


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
        except MlflowException:
            return None

    def set_tags(self, mv, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, mv.version, key, value)

    def set_verdict(self, mv, passed: bool, reasons: list[str], extra: dict[str, str]) -> None:
        self.set_tags(mv, {PASSED: str(passed).lower(), REASONS: json.dumps(reasons), **extra})

    def _point(self, alias: str, mv) -> None:
        fresh = self.get(mv.version)
        if alias == CHAMPION and not eligible(fresh):
            raise RegistryError(
                f"{self.name} v{mv.version} failed the gate and was not forced: "
                f"refusing to make it {CHAMPION}"
            )
        self.client.set_registered_model_alias(self.name, alias, mv.version)

    def move_champion(self, mv) -> Any:
        """`champion` -> mv, `previous` -> the old champion; returns the old champion."""
        old = self.alias(CHAMPION)
        if old is not None and old.version == mv.version:
            raise RegistryError(f"{self.name} v{mv.version} is already the {CHAMPION}")
        self._point(CHAMPION, mv)  # checked first: a refused move changes nothing
        if old is not None:
            self._point(PREVIOUS, old)
        return old

    def swap(self) -> tuple[Any, Any]:
        """Rollback: `champion` <-> `previous`; returns (new champion, new previous)."""
        champ, prev = self.alias(CHAMPION), self.alias(PREVIOUS)
        if prev is None:
            raise RegistryError(
                f"{self.name} has no '{PREVIOUS}' version to roll back to"
                + ("" if champ else f" (and no '{CHAMPION}')")
            )
        self._point(CHAMPION, prev)
        if champ is not None:
            self._point(PREVIOUS, champ)
        return prev, champ


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
