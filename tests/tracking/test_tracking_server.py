"""Lineage against a real `mlflow server` (one per module): parent/child runs, tags,
per-step losses and images, the dataset input, and nesting under a given parent."""

from __future__ import annotations

import json
import re

import mlflow
import pytest
import yaml

from genforge.tracking.lineage import PARENT_ENV
from genforge.tracking.runs import (
    end_pipeline_run,
    log_evaluation,
    open_tracker,
    start_pipeline_run,
    tracked_training,
)
from genforge.training.run import train_family
from tests.conftest import tiny_params, tiny_prepared
from tests.tracking.helpers import good_metrics, mlflow_server

pytestmark = pytest.mark.integration
LINEAGE = ("git_commit", "dvc_data_hash", "params_hash", "feature_extractor", "n_samples", "seed")
DVC_MD5 = "0123456789abcdef0123456789abcdef.dir"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture
def tracking(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.delenv(PARENT_ENV, raising=False)
    return mlflow.MlflowClient(server)


def git_repo_with_lock(root):
    """A git work tree whose dvc.lock records a DVC hash for data/prepared."""
    import subprocess

    lock = {"stages": {"prepare": {"outs": [{"path": "data/prepared", "md5": DVC_MD5}]}}}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@x"]
    subprocess.run([*git, "add", "dvc.lock"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "lock"], cwd=root, check=True)


def train_and_evaluate(params, prepared, root):
    """What `genforge train` then `genforge evaluate` do, as separate calls (dvc repro)."""
    with tracked_training(params, "vae", prepared, root) as callbacks:
        train_family(params, "vae", prepared, root / "models/vae", callbacks, progress=False)
    metrics = good_metrics("vae")
    path = root / "metrics" / "vae.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    paths = {"metrics": path, "checkpoint": root / "models/vae/checkpoint.pt"}
    return log_evaluation(params, "vae", metrics, paths, prepared, root)


def test_train_and_evaluate_share_one_child_under_one_parent_with_lineage(
    tracking, tmp_path, tmp_path_factory
):
    prepared = tiny_prepared(tmp_path_factory)
    git_repo_with_lock(tmp_path)
    params = tiny_params(
        ["vae"],
        train={"sample_every": 2},
        evaluate={"n_samples": 40},
        tracking={"experiment_prefix": "a"},
    )
    run_id = train_and_evaluate(params, prepared, tmp_path)

    exp = tracking.get_experiment_by_name("a-shapes")
    runs = tracking.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("role") == "pipeline"]
    children = [r for r in runs if r.data.tags.get("role") == "family"]
    assert len(parents) == 1 and len(children) == 1  # train + evaluate: one child
    child = tracking.get_run(run_id)
    assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
    for key in LINEAGE:
        assert child.data.tags.get(key), key
        assert parents[0].data.tags.get(key) == child.data.tags[key], key
    assert child.data.tags["dvc_data_hash"] == DVC_MD5
    assert child.data.params["models.vae.steps"] == "6"

    losses = tracking.get_metric_history(run_id, "train/loss")
    assert [m.step for m in losses] == [1, 2, 3, 4, 5, 6]
    assert len(tracking.get_metric_history(run_id, "train/images_per_s")) == 6
    assert child.data.metrics["fid"] == 5.0
    assert child.data.metrics["reference/noise/fid"] == 300.0

    images = [f.path for f in tracking.list_artifacts(run_id, "images")]
    steps = sorted(
        int(re.search(r"\+step\+(\d+)\+", p).group(1)) for p in images if p.endswith(".png")
    )
    assert steps == [2, 4, 6]  # every sample_every steps and the final grid
    artifacts = {
        f.path for d in ("evaluation", "checkpoint") for f in tracking.list_artifacts(run_id, d)
    }
    assert {"evaluation/vae.json", "checkpoint/checkpoint.pt"} <= artifacts

    inputs = child.inputs.dataset_inputs
    assert {i.dataset.digest for i in inputs} == {DVC_MD5}
    assert {i.dataset.name for i in inputs} == {"shapes"}


def test_a_given_parent_run_is_used_and_left_open(
    tracking, tmp_path, tmp_path_factory, monkeypatch
):
    prepared = tiny_prepared(tmp_path_factory)
    params = tiny_params(["vae"], tracking={"experiment_prefix": "b"})
    flow_parent = start_pipeline_run(params, prepared, tmp_path)  # what the flow does
    monkeypatch.setenv(PARENT_ENV, flow_parent)
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", "flow-run-42")
    run_id = train_and_evaluate(params, prepared, tmp_path)

    child = tracking.get_run(run_id)
    assert child.data.tags["mlflow.parentRunId"] == flow_parent
    assert child.data.tags["prefect_flow_run_id"] == "flow-run-42"
    assert tracking.get_run(flow_parent).info.status == "RUNNING"  # the flow ends it
    experiment = child.info.experiment_id
    parents = tracking.search_runs([experiment], "tags.role = 'pipeline'")
    assert [r.info.run_id for r in parents] == [flow_parent]  # no parent of our own
    end_pipeline_run(params, flow_parent, ok=True, root=tmp_path)
    assert tracking.get_run(flow_parent).info.status == "FINISHED"


def test_an_unknown_parent_run_id_is_a_clear_error(
    tracking, tmp_path, tmp_path_factory, monkeypatch
):
    from genforge.tracking.runs import TrackingError, family_run

    prepared = tiny_prepared(tmp_path_factory)
    tr = open_tracker(tiny_params(["vae"]), prepared, tmp_path)
    monkeypatch.setenv(PARENT_ENV, "f" * 32)
    with (
        pytest.raises(TrackingError, match=f"{PARENT_ENV}=f+ is not a run"),
        family_run(tr, "vae", "train"),
    ):
        pass


def test_genforge_train_in_its_own_process_joins_the_same_pipeline_run(
    tracking, tmp_path, tmp_path_factory, server
):
    """A `dvc repro` stage: `genforge train` as a subprocess, the evaluation logged later
    from another process, both find the one parent and the one family child by tags."""
    import os
    import subprocess
    import sys

    from tests.tracking.helpers import project

    prepared = tiny_prepared(tmp_path_factory)
    root = project(tmp_path, prepared, {})
    params = tiny_params(["vae"], evaluate={"n_samples": 40}, tracking={"experiment_prefix": "c"})
    (root / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json")))
    env = {**os.environ, "MLFLOW_TRACKING_URI": server}
    env.pop(PARENT_ENV, None)
    result = subprocess.run(
        [sys.executable, "-m", "genforge.cli", "train", "--family", "vae"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = good_metrics("vae")
    (root / "metrics" / "vae.json").write_text(json.dumps(metrics))
    paths = {"metrics": root / "metrics/vae.json", "checkpoint": root / "models/vae/checkpoint.pt"}
    run_id = log_evaluation(params, "vae", metrics, paths, root / "data/prepared", root)

    exp = tracking.get_experiment_by_name("c-shapes").experiment_id
    assert len(tracking.search_runs([exp], "tags.role = 'pipeline'")) == 1
    assert len(tracking.search_runs([exp], "tags.role = 'family'")) == 1
    child = tracking.get_run(run_id)
    assert "train/loss" in child.data.metrics and "fid" in child.data.metrics
    assert child.info.status == "FINISHED"
