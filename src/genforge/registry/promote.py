"""Register candidates, run the gate against the re-scored champion, move the aliases.

`register_and_promote` is what the pipeline runs after evaluation (`genforge register`,
the flow's register step): every evaluated family becomes a version of the dataset's
registered model (a pyfunc model logged into the family's run), the champion is
re-scored on the current reference data, every candidate is judged, and the best
passing one (lowest FID) becomes `champion`, the old one `previous`. `promote`
re-judges the newest version of each family (`--force --reason` promotes one
regardless), `rollback` swaps `champion` and `previous`. Each decision writes the
gate report (gate/report.json + .md) and attaches it to the pipeline run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genforge.config import Params
from genforge.registry import gate
from genforge.registry.candidates import (
    ChampionIncomparable,
    Rescore,
    connect,
    default_rescore,
    register_family,
)
from genforge.registry.gate_report import attach_report, write_report
from genforge.registry.versions import (
    CHAMPION,
    PREVIOUS,
    ChampionMoved,
    Registry,
    RegistryError,
    stored_verdict,
    version_metrics,
)
from genforge.tracking.runs import Tracker

MAX_REJUDGE = 5  # judgements against a champion that keeps moving before giving up


def entry(mv, champion: bool = False) -> dict[str, Any]:
    """A version as the report shows it: its verdict and gated metrics."""
    return {
        "version": mv.version,
        **stored_verdict(mv),
        **version_metrics(mv),
        "champion": champion,
    }


def who(mv) -> dict[str, Any] | None:
    if mv is None:
        return None
    return {"family": mv.tags.get("family"), "version": mv.version, "fid": _fid(mv)}


def _fid(mv) -> Any:
    return version_metrics(mv).get("fid")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class GateBlocked(RegistryError):
    """The gate could not judge (the champion cannot be re-scored): nothing promoted;
    `report` says why and is published before this is raised."""

    def __init__(self, message: str, report: dict[str, Any]):
        super().__init__(message)
        self.report = report


def rescore_champion(champion, rescore: Rescore) -> tuple[dict[str, Any] | None, str | None]:
    """(re-scored metrics, None), or (None, note) for a champion not comparable with the
    current data. Any other failure blocks the gate: judged on the thresholds alone, a
    worse candidate could replace a better champion (fail closed, issue 18 item 5)."""
    try:
        return rescore(champion), None
    except ChampionIncomparable as exc:
        note = f"champion v{champion.version} makes other images than the current data ({exc})"
        return None, note + "; candidates were judged on the thresholds alone"
    except Exception as exc:
        raise GateBlocked(
            f"the champion v{champion.version} ({champion.tags.get('family')}) cannot be "
            f"re-scored on the current data ({exc.__class__.__name__}: {exc}); no promotion: "
            "the candidates stay unjudged until it can be (repair its artifact, or move the "
            "champion: `genforge rollback`, `genforge promote --force --family F --reason R`)",
            {},
        ) from exc


def judge_candidates(
    tr: Tracker, reg: Registry, candidates: dict[str, Any], rescore: Rescore
) -> dict[str, Any]:
    """Judge every candidate against the thresholds and the re-scored champion, tag the
    verdicts, promote the best passing one; returns the report (not yet written).

    The champion is re-scored unlocked (minutes), then verdicts and the move are written
    under the promotion lock only if the champion is still the one re-scored; when
    another promotion moved it meanwhile, the candidates are judged again against the
    new one (issue 18 item 4). Raises GateBlocked (with its report) when the champion
    cannot be re-scored."""
    for _ in range(MAX_REJUDGE):
        champion = reg.alias(CHAMPION)
        held = {mv.version for mv in (champion, reg.alias(PREVIOUS)) if mv is not None}
        to_judge = {f: mv for f, mv in candidates.items() if mv.version not in held}
        rescored, note = None, None
        if champion is not None and to_judge:
            try:
                rescored, note = rescore_champion(champion, rescore)
            except GateBlocked as exc:
                exc.report = blocked_report(tr, reg, candidates, champion, to_judge, str(exc))
                raise
        verdicts = {f: verdict_on(tr, mv, rescored) for f, mv in to_judge.items()}
        winner = gate.best({f: version_metrics(to_judge[f]) for f in verdicts}, verdicts)
        try:
            with reg.locked():
                if _version(reg.alias(CHAMPION)) != _version(champion):
                    raise ChampionMoved("the champion moved while it was re-scored")
                compared = {"gate.champion_version": champion.version if rescored else ""}
                for family, verdict in verdicts.items():
                    reg.set_verdict(to_judge[family], verdict.passed, verdict.reasons, compared)
                if winner is not None:
                    reg.move_champion(to_judge[winner], expected=champion)
            break
        except ChampionMoved:
            continue
    else:
        raise RegistryError(
            f"{reg.name}: the champion moved {MAX_REJUDGE} times while these candidates were "
            "judged (other promotions running); nothing promoted, run again"
        )
    report = build_report(tr, reg, "register", candidates, champion)
    report.update(
        champion_stored=version_metrics(champion) if champion else None,
        champion_rescored=_gated(rescored) if rescored else None,
        champion_note=note,
        promoted=who(to_judge[winner]) if winner else None,
    )
    return report


def verdict_on(tr: Tracker, mv, rescored: dict[str, Any] | None) -> gate.Verdict:
    """The gate's verdict on one version (pure: nothing written)."""
    reasons = list(gate.judge(version_metrics(mv), tr.params.gate, rescored).reasons)
    if mv.tags.get("data_sha256") != tr.tags["data_sha256"]:
        reasons.append(
            f"evaluated on data {mv.tags.get('data_sha256', '?')[:12]}, the current data is "
            f"{tr.tags['data_sha256'][:12]}: re-run the pipeline"
        )
    return gate.Verdict(not reasons, reasons)


def _version(mv) -> str | None:
    return None if mv is None else str(mv.version)


def blocked_report(tr, reg, candidates, champion, to_judge, why: str) -> dict[str, Any]:
    """The report of a gate that could not judge: no verdicts, nothing promoted."""
    report = build_report(tr, reg, "register", candidates, champion)
    report.update(champion_stored=version_metrics(champion), champion_note=why)
    for family in to_judge:
        report["families"][family].update(passed=False, reasons=[f"not judged: {why}"])
    return report


def judged(tr: Tracker, reg: Registry, candidates, rescore: Rescore, root: Path, action: str):
    """judge_candidates, then publish its report (a blocked gate's too, then re-raised)."""
    try:
        report = judge_candidates(tr, reg, candidates, rescore)
    except GateBlocked as exc:
        publish(tr, {**exc.report, "action": action}, root)
        raise
    return publish(tr, {**report, "action": action}, root)


def _gated(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = (*gate.GATED_METRICS, "n_samples", "seed", "data_hash", "feature_extractor")
    return {k: metrics.get(k) for k in keep}


def build_report(
    tr: Tracker, reg: Registry, action: str, candidates: dict[str, Any], before
) -> dict[str, Any]:
    """The decision's report skeleton: aliases after it and every family's verdict."""
    champion, previous = reg.alias(CHAMPION), reg.alias(PREVIOUS)
    families: dict[str, Any] = {}
    for family in tr.params.models.families:
        mv = candidates.get(family)
        mv = reg.get(mv.version) if mv is not None else reg.latest(family)
        families[family] = (
            entry(mv, champion is not None and mv.version == champion.version)
            if mv is not None
            else {"version": None, "passed": False, "forced": False, "reasons": ["not evaluated"]}
        )
    return {
        "action": action,
        "time": _now(),
        "registered_model": reg.name,
        "data_hash": tr.tags["dvc_data_hash"],
        "champion": who(champion),
        "previous": who(previous),
        "champion_before": who(before),
        "champion_stored": None,
        "champion_rescored": None,
        "champion_note": None,
        "promoted": None,
        "forced": False,
        "reason": None,
        "gate": tr.params.gate.model_dump(),
        "families": families,
    }


def publish(tr: Tracker, report: dict[str, Any], root: Path) -> dict[str, Any]:
    """Write gate/report.{json,md} and attach them to the pipeline run."""
    paths = write_report(report, root)
    attach_report(tr, report, paths)
    return report


def register_and_promote(
    params: Params, families: list[str], root: Path = Path("."), rescore: Rescore | None = None
) -> dict[str, Any]:
    """Log + register every evaluated family, gate them, promote the best; the report."""
    root = Path(root)
    tr, reg = connect(params, root)
    candidates = {}
    for family in families:
        mv = register_family(tr, reg, family, root)
        if mv is not None:
            candidates[family] = reg.get(mv.version)
    if not candidates:
        raise RegistryError(
            f"no family of {families} has metrics/<family>.json and a checkpoint under {root}; "
            "run `genforge evaluate --family F` first"
        )
    return judged(tr, reg, candidates, rescore or default_rescore(params, root), root, "register")


def newest(reg: Registry, families: list[str], family: str | None) -> dict[str, Any]:
    """The newest version of each family (or only of `family`)."""
    wanted = [family] if family else families
    found = {f: mv for f in wanted if (mv := reg.latest(f)) is not None}
    if not found:
        raise RegistryError(
            f"{reg.name} has no version of {family or families}; run `genforge register` first"
        )
    return found


def promote(
    params: Params,
    root: Path = Path("."),
    family: str | None = None,
    force: bool = False,
    reason: str | None = None,
    rescore: Rescore | None = None,
) -> dict[str, Any]:
    """Re-run the gate on the newest versions; with `force`, promote one regardless
    (`family`'s newest, else the lowest FID) and record `reason` in its tags."""
    root = Path(root)
    if force and not (reason or "").strip():
        raise RegistryError("--force needs --reason TEXT: a forced promotion records why")
    tr, reg = connect(params, root)
    candidates = newest(reg, list(params.models.families), family)
    if not force:
        return judged(
            tr, reg, candidates, rescore or default_rescore(params, root), root, "promote"
        )
    chosen = family or min(candidates, key=lambda f: _fid(candidates[f]) or float("inf"))
    mv = candidates[chosen]
    before = reg.alias(CHAMPION)
    if before is not None and before.version == mv.version:
        raise RegistryError(f"{reg.name} v{mv.version} ({chosen}) is already the {CHAMPION}")
    reg.force(mv, reason)
    report = build_report(tr, reg, "force", candidates, before)
    report.update(forced=True, reason=reason.strip(), promoted=who(mv))
    return publish(tr, report, root)


def rollback(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    """Swap `champion` and `previous`; the report says who serves now."""
    root = Path(root)
    tr, reg = connect(params, root)
    before = reg.alias(CHAMPION)
    reg.swap()
    report = build_report(tr, reg, "rollback", {}, before)
    return publish(tr, report, root)
