"""Lineage without a server: URIs, names, hashes, the pipeline key, flattened params."""

from __future__ import annotations

import subprocess

import yaml

from genforge.tracking import lineage
from tests.conftest import tiny_params

META = {"sha256": "a" * 64}


def test_tracking_uri_from_params_made_absolute_and_overridden_by_env(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    params = tiny_params(["vae"])
    assert lineage.tracking_uri(params, tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert lineage.tracking_uri(params, tmp_path) == "http://127.0.0.1:5000"


def test_local_stores_keep_artifacts_under_tracking_artifacts(tmp_path):
    params = tiny_params(["vae"])
    loc = lineage.artifact_location(params, "sqlite:////x/mlflow.db", "genforge-shapes", tmp_path)
    assert loc == (tmp_path / "mlartifacts" / "genforge-shapes").as_uri()
    assert lineage.artifact_location(params, "http://h:5000", "e", tmp_path) is None


def test_one_experiment_and_one_registered_model_per_dataset():
    shapes = tiny_params(["vae"])
    folder = tiny_params(["vae"], data={"source": "folder", "path": "/data/My Cats"})
    assert lineage.experiment_name(shapes) == "genforge-shapes"
    assert lineage.registered_model_name(folder) == "genforge-folder-My-Cats"


def test_dvc_data_hash_is_the_lock_md5_of_the_prepared_data(tmp_path):
    assert lineage.dvc_data_hash(tmp_path, META) == "a" * 64  # no dvc.lock: content hash
    lock = {"stages": {"prepare": {"outs": [{"path": "data/prepared", "md5": "f" * 32 + ".dir"}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert lineage.dvc_data_hash(tmp_path, META) == "f" * 32 + ".dir"


def test_lineage_tags_and_pipeline_key(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "--allow-empty"]
    subprocess.run([*git, "-m", "c"], cwd=tmp_path, check=True)
    params = tiny_params(["vae"])
    tags = lineage.lineage_tags(params, META, tmp_path)
    for key in ("git_commit", "dvc_data_hash", "params_hash", "feature_extractor", "n_samples"):
        assert tags[key], key
    assert tags["seed"] == str(params.train.seed)
    assert tags["mlflow.source.git.commit"] == tags["git_commit"]
    key = lineage.pipeline_key(tags)
    assert key == lineage.pipeline_key(dict(tags))  # stable
    other = tiny_params(["vae"], train={"seed": 7})
    assert lineage.pipeline_key(lineage.lineage_tags(other, META, tmp_path)) != key


def test_prefect_flow_run_id_from_the_environment(monkeypatch):
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", "1234-abcd")
    assert lineage.prefect_flow_run_id() == "1234-abcd"


def test_family_params_are_flat_and_only_the_familys():
    params = tiny_params(["vae", "gan"])
    flat = lineage.family_params(params, "vae")
    assert flat["models.vae.steps"] == "6"
    assert flat["data.shapes.shapes"] == '["circle", "square"]'
    assert not any(k.startswith("models.gan") for k in flat)
    assert "train.seed" in flat and "evaluate.n_samples" in flat


def test_an_unreachable_tracking_store_is_one_clear_error(tmp_path, monkeypatch, prepared_dir):
    import pytest

    from genforge.tracking.runs import TrackingError, open_tracker
    from tests.storage.servers import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with pytest.raises(TrackingError, match=r"cannot use the MLflow tracking store http://127"):
        open_tracker(tiny_params(["vae"]), prepared_dir, tmp_path)


def _open_store(uri: str, queue) -> None:
    try:
        lineage.mlflow_client(uri).search_experiments()
        queue.put("ok")
    except Exception as exc:  # reported to the parent, which asserts on it
        queue.put(f"{type(exc).__name__}: {str(exc)[:200]}")


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    """Without the lock, three processes creating the same new store raced in MLflow's
    migrations ("table latest_metrics already exists", "duplicate column name: step")."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for trial in range(2):
        queue = ctx.Queue()
        uri = f"sqlite:///{tmp_path / f'store{trial}' / 'mlflow.db'}"
        procs = [ctx.Process(target=_open_store, args=(uri, queue)) for _ in range(3)]
        for p in procs:
            p.start()
        results = [queue.get(timeout=120) for _ in procs]
        for p in procs:
            p.join()
        assert results == ["ok"] * 3, results
