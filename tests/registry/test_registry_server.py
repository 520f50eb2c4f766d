"""The registry against a real `mlflow server` (one per module): the gate's case table
through register/promote/rollback, the champion invariant, and `mlflow models serve`
on the champion."""

from __future__ import annotations

import base64
import io
import json
import os
import urllib.error
import urllib.request

import mlflow
import pytest

from genforge.registry.promote import connect, promote, register_and_promote, rollback
from genforge.registry.versions import CHAMPION, PREVIOUS, RegistryError, eligible
from genforge.tracking.lineage import PARENT_ENV
from genforge.training.run import train_family
from tests.conftest import tiny_family, tiny_params, tiny_prepared
from tests.storage.servers import BIN, Server, free_port, http_ok
from tests.tracking.helpers import (
    mlflow_server,
    project,
    serve_env,
    write_metrics,
)

pytestmark = pytest.mark.integration
FAMILIES = ["vae", "gan"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny class-conditional vae and gan checkpoints, trained once for the module."""
    prepared = tiny_prepared(tmp_path_factory)
    out = tmp_path_factory.mktemp("models")
    params = base_params("x")
    for family in FAMILIES:
        train_family(params, family, prepared, out / family, progress=False)
    return prepared, {f: out / f / "checkpoint.pt" for f in FAMILIES}


def base_params(name: str):
    models = {f: tiny_family(f, conditional=True) for f in FAMILIES}
    return tiny_params(
        FAMILIES,
        models=models,
        tracking={"registered_model_prefix": name, "serve_max_n": 8},
        featurizer={"steps": 30, "batch_size": 16, "min_test_accuracy": 0.0},
        evaluate={"n_samples": 40, "batch_size": 40, "bootstrap": 5},
    )


@pytest.fixture
def case(server, checkpoints, tmp_path, monkeypatch, request):
    """A project folder, its params (a registered model of its own) and its registry."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.delenv(PARENT_ENV, raising=False)
    prepared, ckpts = checkpoints
    root = project(tmp_path, prepared, ckpts)
    params = base_params(request.node.name.split("[")[0][5:40].replace("_", "-"))
    yield root, params
    _, reg = connect(params, root)
    champion = reg.alias(CHAMPION)
    assert champion is None or eligible(champion), "champion on a version that failed the gate"


def no_rescore(mv):
    raise AssertionError("there is no champion to re-score")


def rescored(**metrics):
    """A rescore function returning the champion's metrics on 'today's' data."""
    calls = []

    def rescore(mv):
        calls.append(mv.version)
        return {"fid": 5.0, "recall": 0.6, "coverage": 0.7, **metrics}

    rescore.calls = calls
    return rescore


def test_no_champion_the_best_passing_candidate_becomes_champion(case):
    root, params = case
    write_metrics(root, "vae", fid=5.0)
    write_metrics(root, "gan", fid=3.0)
    report = register_and_promote(params, FAMILIES, root, rescore=no_rescore)

    assert report["champion"]["family"] == "gan" and report["previous"] is None
    assert {f: v["passed"] for f, v in report["families"].items()} == {"vae": True, "gan": True}
    _, reg = connect(params, root)
    champ = reg.alias(CHAMPION)
    assert champ.tags["family"] == "gan" and champ.tags["gate.passed"] == "true"
    assert json.loads(champ.tags["metrics"])["fid"] == 3.0
    assert champ.tags["data_hash"] and champ.tags["gate.reasons"] == "[]"
    on_disk = json.loads((root / "gate/report.json").read_text())
    assert on_disk["champion"] == report["champion"]
    assert "gan" in (root / "gate/report.md").read_text()
    client = mlflow.MlflowClient()
    gate_runs = client.search_runs(
        [client.get_experiment_by_name("genforge-shapes").experiment_id],
        "tags.role = 'gate'",
    )
    arts = {a.path for r in gate_runs for a in client.list_artifacts(r.info.run_id, "gate")}
    assert {"gate/report.json", "gate/report.md"} <= arts

    again = register_and_promote(params, FAMILIES, root, rescore=rescored(fid=3.0))
    assert len(reg.versions()) == 2  # same files: the versions are reused, not re-registered
    assert again["champion"] == report["champion"]  # the champion itself is not re-judged
    assert not again["families"]["vae"]["passed"]  # vae now meets a champion: 5 vs 3


FAILS = [
    ({"fid": 11.0}, "fid 11 > gate.fid_max 10"),
    ({"kid": 0.2}, "kid 0.2 > gate.kid_max 0.05"),
    ({"precision": 0.1}, "precision 0.1 < gate.precision_min 0.5"),
    ({"recall": 0.1}, "recall 0.1 < gate.recall_min 0.3"),
    ({"coverage": 0.1}, "coverage 0.1 < gate.coverage_min 0.3"),
    ({"classes_covered": 3}, "classes_covered 3 < gate.classes_covered_min 4"),
]


def test_failing_any_threshold_is_registered_with_reasons_but_never_promoted(case):
    root, params = case
    _, reg = connect(params, root)
    for changes, reason in FAILS:
        write_metrics(root, "vae", **changes)
        report = register_and_promote(params, ["vae"], root, rescore=no_rescore)
        assert report["champion"] is None, changes
        latest = reg.latest("vae")
        assert latest.tags["gate.passed"] == "false"
        assert reason in json.loads(latest.tags["gate.reasons"]), latest.tags["gate.reasons"]
    assert len(reg.versions()) == len(FAILS) and reg.alias(CHAMPION) is None


def test_worse_than_the_rescored_champion_is_not_promoted(case):
    root, params = case
    write_metrics(root, "vae", fid=5.0)
    register_and_promote(params, ["vae"], root, rescore=no_rescore)
    write_metrics(root, "gan", fid=4.95)  # passes the thresholds, < 2 % better
    rescore = rescored(fid=5.0)
    report = register_and_promote(params, ["gan"], root, rescore=rescore)

    assert rescore.calls == ["1"]
    assert report["champion"]["family"] == "vae" and report["promoted"] is None
    reasons = report["families"]["gan"]["reasons"]
    assert any("does not improve on the champion's re-scored 5" in r for r in reasons)


def test_the_champion_is_rescored_on_new_data_not_taken_from_its_tags(case):
    root, params = case
    write_metrics(root, "vae", fid=5.0)  # the champion's stored number, from older data
    register_and_promote(params, ["vae"], root, rescore=no_rescore)
    write_metrics(root, "gan", fid=8.0)  # worse than 5, better than the champion today
    report = register_and_promote(params, ["gan"], root, rescore=rescored(fid=20.0))

    assert report["champion"]["family"] == "gan" and report["previous"]["family"] == "vae"
    assert report["champion_stored"]["fid"] == 5.0 and report["champion_rescored"]["fid"] == 20.0
    md = (root / "gate/report.md").read_text()
    assert "| stored | 5 |" in md and "| re-scored | 20 |" in md


def test_forced_promotion_then_rollback(case):
    root, params = case
    write_metrics(root, "vae", fid=5.0)
    write_metrics(root, "gan", fid=50.0)  # fails fid_max
    register_and_promote(params, FAMILIES, root, rescore=no_rescore)
    _, reg = connect(params, root)
    gan = reg.latest("gan")
    with pytest.raises(RegistryError, match="refusing to make it champion"):
        reg.move_champion(gan)  # the one door to the alias checks the verdict
    assert reg.alias(CHAMPION).tags["family"] == "vae"
    with pytest.raises(RegistryError, match="needs --reason"):
        promote(params, root, family="gan", force=True, reason="  ")

    report = promote(params, root, family="gan", force=True, reason="demo for the board")
    assert report["action"] == "force" and report["forced"] and report["families"]["gan"]["forced"]
    champ = reg.alias(CHAMPION)
    assert champ.version == gan.version and champ.tags["gate.passed"] == "false"
    assert champ.tags["gate.forced"] == "true"
    assert champ.tags["gate.force_reason"] == "demo for the board"
    assert reg.alias(PREVIOUS).tags["family"] == "vae"

    report = rollback(params, root)
    assert report["champion"]["family"] == "vae" and report["previous"]["family"] == "gan"
    assert json.loads((root / "gate/report.json").read_text())["action"] == "rollback"


def test_rollback_without_previous_and_promote_without_versions_fail_clearly(case):
    root, params = case
    with pytest.raises(RegistryError, match="has no version of"):
        promote(params, root)
    write_metrics(root, "vae", fid=5.0)
    register_and_promote(params, ["vae"], root, rescore=no_rescore)
    with pytest.raises(RegistryError, match="no 'previous' version to roll back to"):
        rollback(params, root)


def test_promote_rejudges_the_newest_versions_against_the_rescored_champion(case):
    root, params = case
    write_metrics(root, "vae", fid=5.0)
    write_metrics(root, "gan", fid=4.0)
    register_and_promote(params, ["vae"], root, rescore=no_rescore)
    register_and_promote(params, ["gan"], root, rescore=rescored(fid=3.0))  # gan loses today
    _, reg = connect(params, root)
    assert reg.alias(CHAMPION).tags["family"] == "vae"
    report = promote(params, root, rescore=rescored(fid=9.0))  # the champion got worse
    assert report["action"] == "promote" and report["champion"]["family"] == "gan"


@pytest.mark.slow
def test_the_real_rescore_scores_the_logged_checkpoint_on_the_current_data(case):
    """default_rescore downloads the version's checkpoint and runs the evaluation's
    score_model on today's prepared data: the same numbers as evaluating it here."""
    from genforge.evaluation.evaluate import evaluate_family
    from genforge.evaluation.featurizer import train_featurizer
    from genforge.registry.promote import default_rescore

    root, params = case
    prepared, featurizer = root / "data/prepared", root / "models/featurizer"
    train_featurizer(
        params, prepared_dir=prepared, out_dir=featurizer, cache_dir=root / ".genforge-cache"
    )
    here = evaluate_family(
        params,
        "vae",
        prepared,
        root / "models",
        featurizer,
        root / "metrics/vae.json",
        root / params.evaluate.cache_dir,
    )
    register_and_promote(params, ["vae"], root, rescore=no_rescore)
    _, reg = connect(params, root)
    rescored_now = default_rescore(params, root)(reg.latest("vae"))
    for key in ("fid", "kid", "precision", "recall", "coverage", "classes_covered"):
        assert rescored_now[key] == pytest.approx(here[key], rel=1e-5), key
    assert rescored_now["n_samples"] == 40


def post(port: int, payload) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def decode(prediction: dict):
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(prediction["png"])))


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_the_champions_images(case, server):
    root, params = case
    write_metrics(root, "vae", fid=5.0)
    write_metrics(root, "gan", fid=50.0)  # fails: the vae is the champion
    name = register_and_promote(params, FAMILIES, root, rescore=no_rescore)["registered_model"]
    port = free_port()
    cmd = [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{name}@champion"]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    serve = Server("mlflow models serve", cmd, serve_env(server), root / "serve.log", port)
    serve.start(ready=lambda: http_ok(f"http://127.0.0.1:{port}/ping"), timeout=120)
    try:
        status, body = post(port, {"dataframe_records": [{"n": 3, "seed": 7, "label": 2}]})
        assert status == 200, body
        images = body["predictions"]
        assert len(images) == 3 and {p["label"] for p in images} == {2}
        assert all(p["shape"] == [3, 8, 8] for p in images)
        assert {decode(p).size for p in images} == {(8, 8)}
        assert decode(images[0]).mode == "RGB"
        _, again = post(port, {"inputs": {"n": 3, "seed": 7, "label": 2}})
        assert [p["png"] for p in again["predictions"]] == [p["png"] for p in images]
        _, mixed = post(port, {"dataframe_records": [{"n": 2, "seed": 1, "label": None}]})
        assert [p["label"] for p in mixed["predictions"]] == [0, 1]  # classes in turn

        for payload, message in [
            ({"dataframe_records": [{"n": 9}]}, "9 images requested; at most 8"),
            ({"dataframe_records": [{"n": 1, "label": 4}]}, "unknown label 4"),
            ({"dataframe_records": [{"n": "many"}]}, "n must be an integer"),
        ]:
            status, body = post(port, payload)
            assert status == 400 and message in body["message"], (payload, body)
    finally:
        serve.stop()
    assert os.path.getsize(root / "serve.log") > 0


def test_cli_register_promote_force_and_rollback(case, monkeypatch, capsys):
    import yaml

    from genforge.cli import main

    root, params = case
    (root / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json")))
    monkeypatch.chdir(root)
    write_metrics(root, "vae", fid=5.0)
    write_metrics(root, "gan", fid=50.0)
    assert main(["register"]) == 0
    out = capsys.readouterr().out
    assert "vae: passed" in out and "gan: failed: fid 50 > gate.fid_max 10" in out
    assert "@champion: vae v1 (was none)" in out

    assert main(["promote", "--force"]) == 1
    assert "--force needs --reason TEXT" in capsys.readouterr().err
    assert main(["promote", "--force", "--family", "gan", "--reason", "demo"]) == 0
    assert "@champion: gan v2 (was vae v1)" in capsys.readouterr().out
    assert main(["rollback"]) == 0
    assert "@champion: vae v1 (was gan v2)" in capsys.readouterr().out
