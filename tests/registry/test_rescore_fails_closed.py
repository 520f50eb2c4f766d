"""A champion that cannot be re-scored blocks promotion (issue 18 item 5), against a
real `mlflow server`: before, the gate judged candidates on the thresholds alone and
could replace a better champion; now nothing is promoted, the candidates stay unjudged
(a later run judges them) and the gate report says why."""

from __future__ import annotations

import json

import pytest

from genforge.registry.promote import connect, register_and_promote
from genforge.registry.versions import CHAMPION, PASSED, PREVIOUS, RegistryError
from genforge.tracking.lineage import PARENT_ENV
from genforge.training.run import train_family
from tests.conftest import tiny_family, tiny_params, tiny_prepared
from tests.tracking.helpers import mlflow_server, project, write_metrics

pytestmark = pytest.mark.integration
FAMILIES = ["vae", "gan"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    with mlflow_server(root) as url:
        yield url, root / "artifacts"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    prepared = tiny_prepared(tmp_path_factory)
    out = tmp_path_factory.mktemp("models")
    for family in FAMILIES:
        train_family(params_for("x"), family, prepared, out / family, progress=False)
    return prepared, {f: out / f / "checkpoint.pt" for f in FAMILIES}


def params_for(name: str):
    return tiny_params(
        FAMILIES,
        models={f: tiny_family(f, conditional=True) for f in FAMILIES},
        tracking={"registered_model_prefix": name, "serve_max_n": 8},
        featurizer={"steps": 30, "batch_size": 16, "min_test_accuracy": 0.0},
        evaluate={"n_samples": 40, "batch_size": 40, "bootstrap": 5},
    )


@pytest.fixture
def case(server, checkpoints, tmp_path, monkeypatch, request):
    url, artifacts = server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.delenv(PARENT_ENV, raising=False)
    prepared, ckpts = checkpoints
    root = project(tmp_path, prepared, ckpts)
    params = params_for(request.node.name[5:40].replace("_", "-"))
    write_metrics(root, "vae", fid=5.0)
    register_and_promote(params, ["vae"], root, rescore=None)  # vae v1: the champion
    write_metrics(root, "gan", fid=4.0)  # passes every threshold: only the champion can stop it
    return root, params, artifacts


def cannot_rescore(mv):
    raise RegistryError(f"{mv.name} v{mv.version} has no checkpoint.pt artifact")


def assert_closed(root, params, why: str):
    _, reg = connect(params, root)
    assert reg.alias(CHAMPION).tags["family"] == "vae" and reg.alias(PREVIOUS) is None
    gan = reg.latest("gan")
    assert PASSED not in gan.tags  # unjudged: the next gate run judges it
    report = json.loads((root / "gate/report.json").read_text())
    assert report["promoted"] is None and report["champion"]["family"] == "vae"
    assert why in report["champion_note"] and "no promotion" in report["champion_note"]
    assert why in (root / "gate/report.md").read_text()
    assert not report["families"]["gan"]["passed"]


def test_a_champion_that_cannot_be_rescored_blocks_promotion(case):
    root, params, _ = case
    with pytest.raises(RegistryError, match=r"champion v1 .*cannot be re-scored.*no promotion"):
        register_and_promote(params, ["gan"], root, rescore=cannot_rescore)
    assert_closed(root, params, "has no checkpoint.pt artifact")


def test_a_corrupt_champion_artifact_blocks_promotion_with_the_real_rescore(case):
    """The real re-score (download + load + score) on a champion whose logged
    checkpoint was damaged in the artifact store."""
    root, params, artifacts = case
    _, reg = connect(params, root)
    run_id = reg.alias(CHAMPION).tags["run_id"]
    damaged = [p for p in artifacts.rglob("checkpoint.pt") if run_id in str(p)]
    assert damaged, f"no logged checkpoint of run {run_id} under {artifacts}"
    for path in damaged:
        path.write_bytes(b"not a checkpoint")
    with pytest.raises(RegistryError, match="cannot be re-scored"):
        register_and_promote(params, ["gan"], root)  # default_rescore
    assert_closed(root, params, "v1")


def test_a_champion_for_other_data_leaves_the_thresholds_to_decide(case):
    """Not a failure: a champion that makes other images than today's data (the image
    size or the classes changed) is not comparable, so the thresholds decide."""
    from genforge.registry.promote import ChampionIncomparable

    root, params, _ = case

    def other_shape(mv):
        raise ChampionIncomparable("the model makes (3, 8, 8) images, the data has (3, 16, 16)")

    report = register_and_promote(params, ["gan"], root, rescore=other_shape)
    assert report["promoted"]["family"] == "gan" and report["previous"]["family"] == "vae"
    assert "thresholds alone" in report["champion_note"]
