"""The translation model's registry: log, register, gate and promote the CycleGAN.

The translation has its own experiment and registered model (`translation.name`, e.g.
genforge-digits2typeset) with the same aliases as the families' (`champion` to serve,
`previous` to roll back to), moved by the same `Registry` under the same promotion lock.
`register_translation` turns metrics/cyclegan.json and the checkpoint it scored into
a version (an MLflow run with the params, the training curve, the metrics and the
grid, plus the pyfunc model the server loads), judges it and promotes it when it
passes; each decision writes gate/translation.json and .md.

The gate (`translation.gate`), both directions:
  * translation FID <= fid_vs_identity_max x the identity baseline's FID (the
    untranslated images scored against the target domain);
  * content preservation >= content_min (labelled domains: the share of translations
    the target domain's classifier gives the source image's class);
  * cycle error <= cycle_error_max (off by default);
  * against a champion judged by the same judges (same data hash, featurizer settings
    and seed: each domain's featurizer is a deterministic function of those), a
    relative gain of min_improvement in mean FID / identity and content preservation at
    most max_content_drop below the champion's. A champion scored on other data or by
    other judges is not comparable: the thresholds decide, and the report says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genforge.config import Params
from genforge.data.atomic import write_text_atomic
from genforge.layout import CHECKPOINT, STEP_LOG, TRAIN_SUMMARY, TRANSLATION, Layout
from genforge.registry.gate import Verdict
from genforge.registry.verdicts import verdict_text
from genforge.registry.versions import (
    CHAMPION,
    PREVIOUS,
    ChampionMoved,
    Registry,
    RegistryError,
    stored_verdict,
    version_metrics,
)
from genforge.tracking import lineage
from genforge.tracking.runs import ensure_experiment, file_sha256, numeric, read_metrics
from genforge.translation.sections import TranslationGateConfig

DIRECTIONS = ("a2b", "b2a")
PER_DIRECTION = ("fid", "fid_vs_identity", "identity_fid", "content_preservation", "cycle_error")
JUDGES_TAG = "judges_key"  # what scored a version: comparable only with the same key
MAX_TRIES = 5


def gated(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers a version is judged on, flat: a2b_fid, ..., fid_vs_identity_mean."""
    flat = {f"{d}_{k}": (metrics.get(d) or {}).get(k) for d in DIRECTIONS for k in PER_DIRECTION}
    flat["fid_vs_identity_mean"] = metrics.get("fid_vs_identity_mean")
    flat["content_preservation_min"] = metrics.get("content_preservation_min")
    return flat


def judges_key(params: Params, metrics: dict[str, Any]) -> str:
    """Data, featurizer settings and seed: two versions with the same key were scored alike."""
    blob = json.dumps(
        [
            metrics.get("data_sha256"),
            params.featurizer.model_dump(mode="json"),
            params.evaluate.seed,
        ],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def judge(
    m: dict[str, Any],
    cfg: TranslationGateConfig,
    names: dict[str, str],
    champion: dict[str, Any] | None = None,
) -> Verdict:
    """The verdict on flat gated numbers `m` (pure); `champion`: a comparable champion's."""
    reasons = []
    for d in DIRECTIONS:
        name = names.get(d, d)
        ratio, content, cycle = (
            m.get(f"{d}_{k}") for k in ("fid_vs_identity", "content_preservation", "cycle_error")
        )
        if cfg.fid_vs_identity_max is not None and (
            ratio is None or ratio > cfg.fid_vs_identity_max
        ):
            reasons.append(
                f"{name}: FID {m.get(f'{d}_fid')} is {ratio if ratio is None else round(ratio, 3)}x "
                f"the untranslated images' (max {cfg.fid_vs_identity_max})"
            )
        if cfg.content_min is not None and content is not None and content < cfg.content_min:
            reasons.append(f"{name}: content preservation {content:.3f} < {cfg.content_min}")
        if cfg.cycle_error_max is not None and (cycle is None or cycle > cfg.cycle_error_max):
            reasons.append(f"{name}: cycle error {cycle} > {cfg.cycle_error_max}")
        if (
            champion
            and content is not None
            and champion.get(f"{d}_content_preservation") is not None
        ):
            floor = champion[f"{d}_content_preservation"] - cfg.max_content_drop
            if content < floor:
                reasons.append(
                    f"{name}: content preservation {content:.3f} is more than "
                    f"{cfg.max_content_drop} below the champion's {champion[f'{d}_content_preservation']:.3f}"
                )
    mean, best = m.get("fid_vs_identity_mean"), (champion or {}).get("fid_vs_identity_mean")
    if (
        champion
        and mean is not None
        and best is not None
        and mean > (1 - cfg.min_improvement) * best
    ):
        reasons.append(
            f"mean FID / identity {mean:.3f} does not beat the champion's {best:.3f} by "
            f"{cfg.min_improvement:.0%}"
        )
    return Verdict(not reasons, reasons)


def connect(params: Params, root: Path) -> tuple[Any, str, Registry]:
    """(MLflow client, experiment id, registry) of the translation model."""
    import mlflow

    uri = lineage.tracking_uri(params, root)
    mlflow.set_tracking_uri(uri)
    client = lineage.mlflow_client(uri)
    exp_id = ensure_experiment(
        client, params, uri, lineage.translation_experiment_name(params), root
    )
    reg = Registry(client, lineage.translation_model_name(params))
    reg.ensure()
    return client, exp_id, reg


def candidate(root: Path, tmp: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Copy metrics/cyclegan.json and the checkpoint it scored to `tmp` (checked and
    logged from one copy: a rerun replacing checkpoint.pt cannot slip in)."""
    out = Layout(Path(root))
    metrics_path, ckpt = out.metrics(TRANSLATION), out.checkpoint(TRANSLATION)
    if not metrics_path.is_file() or not ckpt.is_file():
        raise RegistryError(
            f"no translation candidate: {metrics_path} or {ckpt} is missing; run "
            "`genforge translate` (or `dvc repro translate`) first"
        )
    staged = {"metrics": tmp / metrics_path.name, "checkpoint": tmp / CHECKPOINT}
    shutil.copyfile(metrics_path, staged["metrics"])
    shutil.copyfile(ckpt, staged["checkpoint"])
    metrics = read_metrics(staged["metrics"])
    if metrics.get("checkpoint_sha256") != file_sha256(staged["checkpoint"]):
        raise RegistryError(
            f"{metrics_path} was written for checkpoint sha256 {metrics.get('checkpoint_sha256')}, "
            f"but {ckpt} is another file now: run `genforge translate` again, then register"
        )
    return metrics, staged


def log_and_register(
    params: Params, client, exp_id: str, reg: Registry, root: Path, metrics, staged
):
    """One MLflow run (params, losses per step, metrics, grid, pyfunc model) and its
    registered version; an unchanged candidate reuses its version."""
    import mlflow
    from mlflow.entities import Metric, Param

    from genforge.serving.pyfunc_translation import log_translator_model

    key = hashlib.sha256(
        json.dumps(
            [metrics.get("checkpoint_sha256"), gated(metrics), judges_key(params, metrics)]
        ).encode()
    ).hexdigest()[:16]
    found = [mv for mv in reg.versions() if mv.tags.get("candidate_key") == key]
    if found:
        return reg.get(found[-1].version)
    out = Layout(Path(root))
    commit = lineage.git_commit(Path(root))
    tags = {
        "role": "translation",
        "family": TRANSLATION,
        "translation": params.translation.name,
        "params_hash": lineage.params_hash(params),
        "data_sha256": str(metrics.get("data_sha256")),
        "git_commit": commit,
        "mlflow.source.git.commit": commit,
        "prefect_flow_run_id": lineage.prefect_flow_run_id(),
        "pipeline_run_id": os.environ.get(lineage.PARENT_ENV),
    }
    tags = {k: str(v) for k, v in tags.items() if v is not None}
    with mlflow.start_run(experiment_id=exp_id, run_name=TRANSLATION, tags=tags) as run:
        flat = lineage.flatten(params.translation.model_dump(mode="json"), "translation")
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in flat.items()])
        curve = out.model_dir(TRANSLATION) / STEP_LOG
        if curve.is_file():  # the training losses against step, as the families log them
            records = [json.loads(line) for line in curve.read_text().splitlines() if line]
            points = [
                Metric(f"train/{k}", float(v), 0, int(r["step"]))
                for r in records
                for k, v in r.items()
                if k not in ("step", "seconds") and isinstance(v, int | float)
            ]
            for i in range(0, len(points), 1000):
                client.log_batch(run.info.run_id, metrics=points[i : i + 1000])
        mlflow.log_metrics(numeric(metrics))
        mlflow.log_artifact(str(staged["metrics"]), "evaluation")
        for path in (out.translation_grid, out.model_dir(TRANSLATION) / TRAIN_SUMMARY):
            if path.is_file():
                mlflow.log_artifact(str(path), "evaluation")
        info = log_translator_model(staged["checkpoint"], params.tracking.serve_max_n)
    version_tags = {
        "family": TRANSLATION,
        "kind": "translation",
        "candidate_key": key,
        "checkpoint_sha256": metrics["checkpoint_sha256"],
        "metrics": json.dumps(gated(metrics)),
        "data_sha256": str(metrics.get("data_sha256")),
        JUDGES_TAG: judges_key(params, metrics),
        "directions": json.dumps(metrics.get("directions") or {}),
        "run_id": run.info.run_id,
        **{k: tags[k] for k in ("params_hash", "git_commit") if k in tags},
    }
    mv = mlflow.register_model(info.model_uri, reg.name, tags=version_tags)
    return reg.get(mv.version)


def _who(mv) -> dict[str, Any] | None:
    if mv is None:
        return None
    return {
        "family": TRANSLATION,
        "version": mv.version,
        "fid_vs_identity_mean": version_metrics(mv).get("fid_vs_identity_mean"),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def judged(params: Params, reg: Registry, mv) -> tuple[dict[str, Any], Any]:
    """Judge `mv` against the thresholds and a comparable champion; promote it when it
    passes (compare-and-set: judged again if another promotion moved the champion)."""
    names = json.loads(mv.tags.get("directions", "{}"))
    for _ in range(MAX_TRIES):
        champion = reg.alias(CHAMPION)
        if champion is not None and champion.version == mv.version:
            return {"note": "already the champion", **stored_verdict(mv)}, champion
        comparable = champion is not None and champion.tags.get(JUDGES_TAG) == mv.tags.get(
            JUDGES_TAG
        )
        note = None
        if champion is not None and not comparable:
            note = (
                f"champion v{champion.version} was scored on other data or by other judges: "
                "the candidate was judged on the thresholds alone"
            )
        verdict = judge(
            version_metrics(mv),
            params.translation.gate,
            names,
            version_metrics(champion) if comparable else None,
        )
        try:
            with reg.locked():
                reg.set_verdict(mv, verdict.passed, list(verdict.reasons), {})
                if verdict.passed:
                    reg.move_champion(mv, expected=champion)
            return {
                "note": note,
                "passed": verdict.passed,
                "forced": False,
                "reasons": list(verdict.reasons),
            }, champion
        except ChampionMoved:
            continue
    raise RegistryError(
        f"{reg.name}: the champion kept moving while v{mv.version} was judged; run again"
    )


def report(
    params: Params, reg: Registry, action: str, mv, before, outcome: dict[str, Any]
) -> dict[str, Any]:
    champion = reg.alias(CHAMPION)
    return {
        "action": action,
        "time": _now(),
        "registered_model": reg.name,
        "champion": _who(champion),
        "previous": _who(reg.alias(PREVIOUS)),
        "champion_before": _who(before),
        "promoted": _who(mv)
        if champion is not None
        and mv is not None
        and champion.version == mv.version
        and _who(before) != _who(mv)
        else None,
        "candidate": (
            {
                "version": mv.version,
                "checkpoint_sha256": mv.tags.get("checkpoint_sha256"),
                **version_metrics(mv),
                **stored_verdict(reg.get(mv.version)),
            }
            if mv is not None
            else None
        ),
        "note": outcome.get("note"),
        "forced": outcome.get("forced", False),
        "reason": outcome.get("reason"),
        "gate": params.translation.gate.model_dump(),
    }


def markdown(r: dict[str, Any]) -> str:
    def who(e):
        return f"v{e['version']}" if e else "none"

    c = r.get("candidate")
    lines = [
        f"# Translation gate: {r['action']} ({r['registered_model']})",
        "",
        f"- time: {r['time']}",
        f"- champion before: {who(r.get('champion_before'))}; now: {who(r.get('champion'))}; "
        f"previous: {who(r.get('previous'))}",
    ]
    if r.get("note"):
        lines.append(f"- note: {r['note']}")
    if c:
        lines.append(f"- candidate v{c['version']}: {verdict_text(c)}")
        lines += ["", "| number | value |", "|---|---:|"]
        lines += [
            f"| {k} | {v if v is None else round(v, 4)} |"
            for k, v in c.items()
            if k not in ("version", "checkpoint_sha256", "passed", "forced", "reasons")
        ]
    lines += ["", "Gate: " + ", ".join(f"{k} {v}" for k, v in r["gate"].items()), ""]
    return "\n".join(lines)


def publish(r: dict[str, Any], root: Path) -> dict[str, Any]:
    path = Layout(Path(root)).translation_gate
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(r, indent=2) + "\n")
    write_text_atomic(path.with_suffix(".md"), markdown(r))
    return r


def register_translation(params: Params, root: Path = Path(".")) -> dict[str, Any] | None:
    """Log + register the translation candidate, gate it, promote it when it passes;
    the report (gate/translation.json). None when translation is disabled."""
    root = Path(root)
    if not params.translation.enabled:
        return None
    client, exp_id, reg = connect(params, root)
    with tempfile.TemporaryDirectory() as tmp:
        metrics, staged = candidate(root, Path(tmp))
        mv = log_and_register(params, client, exp_id, reg, root, metrics, staged)
    before = reg.alias(CHAMPION)
    outcome, _ = judged(params, reg, mv)
    return publish(report(params, reg, "register", mv, before, outcome), root)


def promote_translation(
    params: Params, root: Path = Path("."), force: bool = False, reason: str | None = None
):
    """Re-judge the newest version; with `force` (and a reason), make it champion anyway."""
    root = Path(root)
    if force and not (reason or "").strip():
        raise RegistryError("--force needs --reason TEXT: a forced promotion records why")
    _, _, reg = connect(params, root)
    mv = reg.latest(TRANSLATION)
    if mv is None:
        raise RegistryError(f"{reg.name} has no version; run `genforge register` first")
    before = reg.alias(CHAMPION)
    if not force:
        outcome, _ = judged(params, reg, mv)
        return publish(report(params, reg, "promote", mv, before, outcome), root)
    if before is not None and before.version == mv.version:
        raise RegistryError(f"{reg.name} v{mv.version} is already the {CHAMPION}")
    reg.force(mv, reason)
    outcome = {"forced": True, "reason": reason.strip()}
    return publish(report(params, reg, "force", mv, before, outcome), root)


def rollback_translation(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    """Swap the translation model's `champion` and `previous`."""
    root = Path(root)
    _, _, reg = connect(params, root)
    before = reg.alias(CHAMPION)
    reg.swap()
    return publish(report(params, reg, "rollback", None, before, {}), root)
