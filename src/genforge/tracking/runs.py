"""Parent and child runs: one code path for the Prefect flow and for `dvc repro`.

Each pipeline run is a parent run; each family's training and evaluation is one child
run under it. The parent is `GENFORGE_PARENT_RUN_ID` when the flow set it; otherwise
(stages started by `dvc repro`, or by hand) it is found, or created, by its pipeline
key (git commit + params hash + data hash), so `train` and `evaluate` of one run land
in one parent. A family's child is found by its tags and resumed with
`mlflow.start_run(run_id=...)`. Run ids are never written into files DVC tracks.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.config import Params
from genforge.data.prepare import load_meta
from genforge.errors import GenforgeError
from genforge.layout import Layout
from genforge.tracking import lineage

PREPARED = Layout().prepared  # the CLI's data, relative to the repository


class TrackingError(GenforgeError):
    """The tracking store cannot be reached or holds something unexpected."""


@dataclass
class Tracker:
    """An MLflow client bound to this dataset's experiment and this run's lineage."""

    params: Params
    root: Path
    uri: str
    client: Any  # mlflow.MlflowClient
    experiment_id: str
    tags: dict[str, str]  # lineage tags
    key: str  # pipeline key
    prepared_dir: Path


def open_tracker(params: Params, prepared_dir: Path, root: Path = Path(".")) -> Tracker:
    """Connect to the tracking store and make sure the dataset's experiment exists."""
    import mlflow

    meta = load_meta(prepared_dir)
    uri = lineage.tracking_uri(params, root)
    mlflow.set_tracking_uri(uri)  # the fluent API (start_run, log_model) uses it too
    client = lineage.mlflow_client(uri)
    exp_id = ensure_experiment(client, params, uri, lineage.experiment_name(params), root)
    tags = lineage.lineage_tags(params, meta, root)
    key = lineage.pipeline_key(tags)
    return Tracker(params, Path(root), uri, client, exp_id, tags, key, Path(prepared_dir))


def ensure_experiment(client, params: Params, uri: str, name: str, root: Path) -> str:
    """The id of experiment `name`, created (or restored) when needed; a store that
    cannot be used is a TrackingError naming it (credentials redacted)."""
    import mlflow

    try:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            location = lineage.artifact_location(params, uri, name, root)
            try:
                return client.create_experiment(name, artifact_location=location)
            except mlflow.exceptions.MlflowException:  # created meanwhile by another stage
                return client.get_experiment_by_name(name).experiment_id
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise TrackingError(
            lineage.redact(  # MLflow's own message repeats the URI, credentials and all
                f"cannot use the MLflow tracking store {uri} (tracking.uri or "
                f"{lineage.URI_ENV}): {exc.__class__.__name__}: {first_line}"
            )
        ) from None


@contextmanager
def _lock(tr: Tracker) -> Iterator[None]:
    """Serialise find-or-create between the stages running at once on this machine."""
    digest = hashlib.sha256(f"{tr.uri}|{tr.experiment_id}".encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"genforge-mlflow-{digest}.lock"
    with lineage.exclusive(path):
        yield


def _find(tr: Tracker, filter_string: str) -> str | None:
    runs = tr.client.search_runs(
        [tr.experiment_id], filter_string, max_results=1, order_by=["attributes.start_time ASC"]
    )
    return runs[0].info.run_id if runs else None


def parent_run(tr: Tracker) -> tuple[str, bool]:
    """(run id, whether we own it): GENFORGE_PARENT_RUN_ID, else find-or-create by key."""
    given = os.environ.get(lineage.PARENT_ENV)
    if given:
        try:
            tr.client.get_run(given)
        except Exception:
            raise TrackingError(
                f"{lineage.PARENT_ENV}={given} is not a run in {lineage.redact(tr.uri)}; "
                "unset it to let genforge find or create the pipeline run"
            ) from None
        return given, False
    with _lock(tr):
        found = _find(tr, f"tags.role = 'pipeline' and tags.pipeline_key = '{tr.key}'")
        if found:
            return found, True
        run = tr.client.create_run(
            tr.experiment_id,
            run_name=f"pipeline {tr.tags['dataset']} {tr.key[:8]}",
            tags={**tr.tags, "role": "pipeline", "pipeline_key": tr.key},
        )
        return run.info.run_id, True


def child_run(tr: Tracker, parent: str, family: str) -> str:
    """The family's run under `parent`, created (with its params) on first use."""
    with _lock(tr):
        found = _find(
            tr,
            f"tags.role = 'family' and tags.family = '{family}' "
            f"and tags.`mlflow.parentRunId` = '{parent}'",
        )
        if found:
            return found
        tags = {**tr.tags, "role": "family", "family": family, "pipeline_key": tr.key}
        run = tr.client.create_run(
            tr.experiment_id, run_name=family, tags={**tags, "mlflow.parentRunId": parent}
        )
    from mlflow.entities import Param

    params = lineage.family_params(tr.params, family)
    tr.client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    return run.info.run_id


def log_dataset(tr: Tracker, context: str) -> None:
    """The prepared data as an MLflow dataset input of the active run (digest = DVC hash)."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():  # "can be interpreted in multiple ways": a local folder
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(str(tr.prepared_dir.resolve()))
    # MLflow stores digests of at most 36 characters: a DVC directory md5 ("<32>.dir")
    # fits; the sha256 fallback is cut (the full value is the data_sha256 tag).
    digest = tr.tags["dvc_data_hash"][:36]
    dataset = MetaDataset(source, name=tr.tags["dataset"], digest=digest)
    mlflow.log_input(dataset, context=context)


@contextmanager
def family_run(tr: Tracker, family: str, stage: str) -> Iterator[str]:
    """Resume (or create) the family's child run as the active run for one stage."""
    import mlflow

    parent, owned = parent_run(tr)
    run_id = child_run(tr, parent, family)
    with mlflow.start_run(run_id=run_id):  # FAILED if the stage raises
        if "prefect_flow_run_id" in tr.tags:  # this stage's flow run (the tags have the first)
            mlflow.set_tag("prefect_flow_run_id", tr.tags["prefect_flow_run_id"])
        log_dataset(tr, stage)
        yield run_id
    if owned:  # nobody else ends a parent that `dvc repro` stages created
        tr.client.set_terminated(parent, "FINISHED")


def start_pipeline_run(
    params: Params, prepared_dir: Path = PREPARED, root: Path = Path(".")
) -> str:
    """A fresh parent run for one orchestrated pipeline run (e.g. one Prefect flow run);
    export its id as GENFORGE_PARENT_RUN_ID so every stage nests under it. Call it once
    the data is prepared (the lineage tags need data/prepared/meta.json)."""
    tr = open_tracker(params, prepared_dir, root)
    tags = {**tr.tags, "role": "pipeline", "pipeline_key": tr.key}
    run = tr.client.create_run(
        tr.experiment_id, run_name=f"pipeline {tr.tags['dataset']} {tr.key[:8]}", tags=tags
    )
    return run.info.run_id


def end_pipeline_run(params: Params, run_id: str, ok: bool, root: Path = Path(".")) -> None:
    """Mark a parent from `start_pipeline_run` FINISHED (or FAILED)."""

    client = lineage.mlflow_client(lineage.tracking_uri(params, root))
    client.set_terminated(run_id, "FINISHED" if ok else "FAILED")


@contextmanager
def pipeline_run(params: Params, root: Path, flow_run_id: str | None = None) -> Iterator[str]:
    """A parent run around an orchestrated pipeline run, exported for its stages.

    Sets GENFORGE_PARENT_RUN_ID (and PREFECT__FLOW_RUN_ID) in this process's environment,
    which stage subprocesses inherit; the run ends FINISHED, or FAILED on an exception.
    """
    parent = start_pipeline_run(params, Layout(Path(root)).prepared, Path(root))
    os.environ[lineage.PARENT_ENV] = parent
    if flow_run_id:
        os.environ["PREFECT__FLOW_RUN_ID"] = flow_run_id
    try:
        yield parent
    except BaseException:
        end_pipeline_run(params, parent, ok=False, root=root)
        raise
    end_pipeline_run(params, parent, ok=True, root=root)


def log_pipeline_artifacts(
    params: Params, run_id: str, folders: dict[str, Path], root: Path = Path(".")
) -> None:
    """Attach whole folders (e.g. reports/, gate/) to a parent run, under the given names."""

    client = lineage.mlflow_client(lineage.tracking_uri(params, root))
    for name, folder in folders.items():
        if Path(folder).is_dir():
            client.log_artifacts(run_id, str(folder), name)


def is_main_rank() -> bool:
    """Only rank 0 of a torchrun job logs (the others train the same model)."""
    return int(os.environ.get("RANK", "0")) == 0


@contextmanager
def tracked_training(
    params: Params, family: str, prepared_dir: Path, root: Path = Path(".")
) -> Iterator[list[Any]]:
    """Yield the training callbacks that log `family`'s training into its child run."""
    if not is_main_rank():
        yield []
        return
    from genforge.tracking.callback import MlflowCallback

    tr = open_tracker(params, prepared_dir, root)
    run_id, trained = None, False
    try:
        with family_run(tr, family, "train") as run_id:
            yield [MlflowCallback(tr.client, run_id, family)]
            trained = True
    except Exception as exc:
        if not trained:  # opening the run, or the training itself, failed: that error stands
            raise
        # Training finished and wrote its checkpoint; only ending the MLflow run failed
        # (the server went away). Dying now would throw the trained model away with
        # the stage; the run stays RUNNING, never FINISHED, and a rerun logs it.
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        print(
            lineage.redact(
                f"warning: {family}: the MLflow tracking store {tr.uri} failed at the end "
                f"of training ({exc.__class__.__name__}: {first_line}); the checkpoint is "
                f"written, run {run_id} is left unfinished (RUNNING): rerun "
                f"`genforge train --family {family}` once the server is back to log it"
            ),
            file=sys.stderr,
        )


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def numeric(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flat numeric metrics (bools and None dropped); nested dicts become a/b keys."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update(numeric(value, f"{prefix}{key}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out


def log_evaluation(
    params: Params,
    family: str,
    metrics: dict[str, Any],
    paths: dict[str, Path],
    prepared_dir: Path = PREPARED,
    root: Path = Path("."),
) -> str:
    """Log one family's evaluation into its child run; returns the run id.

    Args:
        metrics: the contents of metrics/<family>.json.
        paths: "metrics" (that file), "checkpoint" (models/<family>/checkpoint.pt) and,
            optionally, "evals" (a folder of evaluation images).
    """
    tr = open_tracker(params, prepared_dir, root)
    with family_run(tr, family, "evaluation") as run_id:
        log_evaluation_here(params, metrics, paths)
    return run_id


def log_evaluation_here(params: Params, metrics: dict[str, Any], paths: dict[str, Path]) -> None:
    """Log an evaluation into the active run (see `log_evaluation` for the arguments)."""
    import mlflow

    mlflow.log_metrics(numeric(metrics))
    mlflow.set_tags(
        {
            "feature_extractor": str(metrics.get("feature_extractor")),
            "n_samples": str(metrics.get("n_samples", params.evaluate.n_samples)),
            "eval_seed": str(metrics.get("seed", params.evaluate.seed)),
            "metrics_sha256": file_sha256(paths["metrics"]),
            "evaluated": "true",
        }
    )
    mlflow.log_artifact(str(paths["metrics"]), "evaluation")
    mlflow.log_artifact(str(paths["checkpoint"]), "checkpoint")
    evals = paths.get("evals")
    if evals and Path(evals).is_dir():
        mlflow.log_artifacts(str(evals), "evaluation")


def read_metrics(path: Path) -> dict[str, Any]:
    """metrics/<family>.json, with a clear error when it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise TrackingError(f"{path}: no metrics (run `genforge evaluate` first)") from None
    except json.JSONDecodeError as exc:
        raise TrackingError(f"{path}: not JSON ({exc})") from None
