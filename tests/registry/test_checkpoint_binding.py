"""The promoted checkpoint is the evaluated one (issue 18 item 2), against a real
`mlflow server`: the evaluation records the checkpoint's sha256 and step, registration
refuses a checkpoint that is not the evaluated one, the version carries the digest
(which `genforge serve` checks), and an unchanged model is not registered again."""

from __future__ import annotations

import json
import shutil

import pytest

from genforge.registry.promote import connect, register_and_promote
from genforge.registry.versions import RegistryError
from genforge.tracking.lineage import PARENT_ENV
from genforge.tracking.runs import file_sha256
from genforge.training.run import train_family
from tests.conftest import tiny_family, tiny_params, tiny_prepared
from tests.tracking.helpers import mlflow_server, project, write_metrics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


def params_for(name: str, steps: int = 6):
    return tiny_params(
        ["vae"],
        models={"vae": tiny_family("vae", conditional=True, steps=steps)},
        tracking={"registered_model_prefix": name, "serve_max_n": 8},
        featurizer={"steps": 30, "batch_size": 16, "min_test_accuracy": 0.0},
        evaluate={"n_samples": 40, "batch_size": 40, "bootstrap": 5},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two tiny vae checkpoints (6 and 9 steps) on the tiny shapes data."""
    prepared = tiny_prepared(tmp_path_factory)
    out = tmp_path_factory.mktemp("models")
    for steps in (6, 9):
        train_family(params_for("x", steps), "vae", prepared, out / str(steps), progress=False)
    return prepared, {s: out / str(s) / "checkpoint.pt" for s in (6, 9)}


@pytest.fixture
def case(server, trained, tmp_path, monkeypatch, request):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.delenv(PARENT_ENV, raising=False)
    prepared, ckpts = trained
    root = project(tmp_path, prepared, {})
    (root / "models" / "vae").mkdir(parents=True)
    shutil.copy(ckpts[6], root / "models/vae/checkpoint.pt")
    return root, params_for(request.node.name[5:40].replace("_", "-")), ckpts


def test_evaluation_records_the_checkpoint_digest_and_step(case):
    from genforge.evaluation.evaluate import evaluate_family
    from genforge.evaluation.featurizer import train_featurizer

    root, params, _ = case
    prepared, featurizer = root / "data/prepared", root / "models/featurizer"
    train_featurizer(params, prepared, featurizer, root / params.evaluate.cache_dir)
    metrics = evaluate_family(
        params,
        "vae",
        prepared,
        root / "models",
        featurizer,
        root / "metrics/vae.json",
        root / params.evaluate.cache_dir,
    )
    ckpt = root / "models/vae/checkpoint.pt"
    assert metrics["checkpoint_sha256"] == file_sha256(ckpt)
    assert metrics["checkpoint_step"] == 6
    assert json.loads((root / "metrics/vae.json").read_text())["checkpoint_sha256"] == (
        file_sha256(ckpt)
    )


def test_a_checkpoint_changed_after_evaluation_is_refused(case):
    root, params, ckpts = case
    write_metrics(root, "vae", fid=5.0)  # records the 6-step checkpoint's digest
    evaluated = file_sha256(root / "models/vae/checkpoint.pt")
    ckpt = root / "models/vae/checkpoint.pt"
    shutil.copy(ckpts[9], ckpt)  # a rerun (or a dvc repro) replaced it after evaluation
    with pytest.raises(RegistryError) as err:
        register_and_promote(params, ["vae"], root, rescore=None)
    message = str(err.value)
    assert "vae" in message and evaluated in message and file_sha256(ckpt) in message
    assert "genforge evaluate --family vae" in message
    _, reg = connect(params, root)
    assert reg.versions() == []  # nothing registered


def test_metrics_without_a_checkpoint_digest_are_refused(case):
    root, params, _ = case
    metrics = write_metrics(root, "vae", fid=5.0)
    del metrics["checkpoint_sha256"]  # written by an evaluation before digests were recorded
    (root / "metrics/vae.json").write_text(json.dumps(metrics))
    with pytest.raises(RegistryError, match=r"records no checkpoint_sha256.*evaluate --family vae"):
        register_and_promote(params, ["vae"], root, rescore=None)


def test_the_version_carries_the_digest_and_an_unchanged_model_is_not_registered_again(case):
    root, params, ckpts = case
    ckpt = root / "models/vae/checkpoint.pt"
    write_metrics(root, "vae", fid=5.0, samples_per_s=1000.0, sample_seconds=0.04)
    first = register_and_promote(params, ["vae"], root, rescore=None)
    _, reg = connect(params, root)
    (mv,) = reg.versions()
    assert mv.tags["checkpoint_sha256"] == file_sha256(ckpt)
    assert mv.tags["checkpoint_step"] == "6"
    assert first["champion"]["version"] == mv.version

    # the evaluate stage ran again (its code changed): same model, other timings
    write_metrics(root, "vae", fid=5.0, samples_per_s=812.5, sample_seconds=0.05)
    register_and_promote(params, ["vae"], root, rescore=None)
    assert [v.version for v in reg.versions()] == [mv.version]

    shutil.copy(ckpts[9], ckpt)  # a retrained model is a new candidate
    write_metrics(root, "vae", fid=5.0)
    register_and_promote(
        params, ["vae"], root, rescore=lambda mv: {"fid": 9.0, "recall": 0.6, "coverage": 0.7}
    )
    assert len(reg.versions()) == 2
    assert reg.versions()[-1].tags["checkpoint_sha256"] == file_sha256(ckpt)
