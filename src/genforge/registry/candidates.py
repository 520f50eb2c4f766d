"""Register evaluated families as versions of the dataset's registered model.

`register_family` turns metrics/<family>.json and the checkpoint it evaluated into a
model version (a pyfunc model logged into the family's run), refusing a checkpoint
other than the evaluated one and reusing the version of an unchanged candidate;
`default_rescore` scores a version's checkpoint on today's data for the gate.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genforge.config import Params
from genforge.layout import CHECKPOINT, Layout
from genforge.registry import gate
from genforge.registry.versions import Registry, RegistryError, candidate_key
from genforge.tracking import lineage
from genforge.tracking.runs import (
    Tracker,
    family_run,
    file_sha256,
    log_evaluation_here,
    open_tracker,
    read_metrics,
)

Rescore = Callable[[Any], dict[str, Any]]  # model version -> metrics on the current data
DIGEST = "checkpoint_sha256"  # in metrics/<family>.json and a version's tag (serving checks it)


class ChampionIncomparable(RegistryError):
    """The champion makes other images than the current data (size, channels, classes):
    not a failure to score it, nothing to compare with; the thresholds decide."""


def connect(params: Params, root: Path) -> tuple[Tracker, Registry]:
    tr = open_tracker(params, Layout(Path(root)).prepared, root)
    reg = Registry(tr.client, lineage.registered_model_name(params))
    reg.ensure()
    return tr, reg


def default_rescore(params: Params, root: Path) -> Rescore:
    """Re-score a version's logged checkpoint on the current prepared data (evaluation's
    `score_model`, same sample count and seed as the candidates)."""

    def rescore(mv) -> dict[str, Any]:
        import mlflow

        from genforge.evaluation.evaluate import EvaluationError, score_model
        from genforge.training.checkpoint import load_model

        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{mv.name}/{mv.version}", dst_path=tmp
            )
            found = sorted(Path(local).rglob(CHECKPOINT))
            if not found:
                raise RegistryError(f"{mv.name} v{mv.version} has no {CHECKPOINT} artifact")
            model = load_model(found[0])
        out = Layout(Path(root))
        try:
            return score_model(
                model,
                params,
                prepared_dir=out.prepared,
                featurizer_dir=out.featurizer,
                cache_dir=Path(root) / params.evaluate.cache_dir,
            )
        except EvaluationError as exc:  # only a model that does not fit the data raises it
            raise ChampionIncomparable(str(exc)) from exc

    return rescore


def register_family(tr: Tracker, reg: Registry, family: str, root: Path):
    """Register metrics/<family>.json + the checkpoint it evaluated as a version (reused
    when this exact candidate is registered already); None when the family was not
    evaluated. A checkpoint other than the evaluated one is refused (RegistryError)."""
    out = Layout(Path(root))
    metrics_path, ckpt = out.metrics(family), out.checkpoint(family)
    if not metrics_path.is_file() or not ckpt.is_file():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        # Checked and logged from one copy: a rerun replacing checkpoint.pt meanwhile
        # cannot slip another model under these metrics.
        staged = {"metrics": Path(tmp) / metrics_path.name, "checkpoint": Path(tmp) / ckpt.name}
        shutil.copyfile(metrics_path, staged["metrics"])
        shutil.copyfile(ckpt, staged["checkpoint"])
        metrics = read_metrics(staged["metrics"])
        digest = check_bound(family, metrics, file_sha256(staged["checkpoint"]), ckpt)
        key = candidate_key(staged["metrics"], staged["checkpoint"])
        found = reg.by_key(key)
        if found is not None:
            return found
        run_id, info = log_candidate(tr, family, metrics, {**staged, "evals": out.evals(family)})
    import mlflow

    gated = {k: metrics.get(k) for k in gate.GATED_METRICS}
    tags = {
        "family": family,
        "candidate_key": key,
        DIGEST: digest,
        "checkpoint_step": str(metrics.get("checkpoint_step")),
        "metrics": json.dumps(gated),
        **{k: str(v) for k, v in gated.items()},
        "data_hash": tr.tags["dvc_data_hash"],
        "data_sha256": str(metrics.get("data_hash") or tr.tags["data_sha256"]),
        **{k: tr.tags[k] for k in ("params_hash", "git_commit") if k in tr.tags},
        "run_id": run_id,
    }
    return mlflow.register_model(info.model_uri, reg.name, tags=tags)


def check_bound(family: str, metrics: dict[str, Any], digest: str, ckpt: Path) -> str:
    """`digest` when it is the checkpoint metrics/<family>.json was evaluated on."""
    recorded = metrics.get(DIGEST)
    again = f"run `genforge evaluate --family {family}` (or `dvc repro evaluate@{family}`)"
    if not recorded:
        raise RegistryError(
            f"{Layout().metrics(family)} records no {DIGEST} (evaluated before metrics were bound "
            f"to their checkpoint): {again}, then register"
        )
    if recorded != digest:
        raise RegistryError(
            f"{family}: metrics/{family}.json was evaluated on checkpoint sha256 {recorded}, "
            f"but {ckpt} is now {digest} (replaced after the evaluation: a rerun, a "
            f"concurrent dvc repro); refusing to register it on another model's numbers: "
            f"{again}, then register"
        )
    return digest


def log_candidate(tr: Tracker, family: str, metrics: dict[str, Any], paths: dict[str, Path]):
    """Log the evaluation (unless this run has it) and the pyfunc model into the family's
    run; returns (run id, mlflow ModelInfo)."""
    from genforge.serving.pyfunc_model import log_sampler_model

    with family_run(tr, family, "registry") as run_id:
        logged = tr.client.get_run(run_id).data.tags.get("metrics_sha256")
        if logged != file_sha256(paths["metrics"]):  # evaluated without tracking, or elsewhere
            log_evaluation_here(tr.params, metrics, paths)
        return run_id, log_sampler_model(paths["checkpoint"], tr.params.tracking.serve_max_n)
