"""The translation model's own registered model: log, register, gate, force, roll back.

Real MLflow (a sqlite store in tmp_path) and real tiny CycleGANs trained by the stage."""

from __future__ import annotations

import json
import shutil

import mlflow
import pytest

from genforge.layout import TRANSLATION, Layout
from genforge.registry.translation import (
    judge,
    promote_translation,
    register_translation,
    rollback_translation,
)
from genforge.registry.versions import CHAMPION, PREVIOUS, RegistryError
from genforge.tracking import lineage
from genforge.translation.sections import TranslationGateConfig
from genforge.translation.stage import run_translation
from tests.translation.test_stage import tiny_params

LENIENT = {"fid_vs_identity_max": 100.0, "content_min": 0.0}
NAMES = {"a2b": "A -> B", "b2a": "B -> A"}


def gated(ratio=0.3, content=0.95, cycle=0.1):
    m = {}
    for d in ("a2b", "b2a"):
        m |= {f"{d}_fid": 1.0, f"{d}_fid_vs_identity": ratio}
        m |= {f"{d}_content_preservation": content, f"{d}_cycle_error": cycle}
    return m | {"fid_vs_identity_mean": ratio}


def test_judge_names_each_direction_and_bar():
    cfg = TranslationGateConfig()
    assert judge(gated(), cfg, NAMES).passed
    v = judge(gated(ratio=0.8, content=0.7), cfg, NAMES)
    assert not v.passed and len(v.reasons) == 4
    assert any("A -> B: content preservation 0.700 < 0.9" in r for r in v.reasons)
    assert any("B -> A: FID" in r and "0.8x" in r for r in v.reasons)
    assert judge(gated(content=None), cfg, NAMES).passed  # unlabelled: content not judged
    strict = TranslationGateConfig(cycle_error_max=0.05)
    assert any("cycle error" in r for r in judge(gated(), strict, NAMES).reasons)


def test_judge_against_a_comparable_champion():
    cfg = TranslationGateConfig()
    assert judge(gated(ratio=0.2), cfg, NAMES, champion=gated(ratio=0.3)).passed
    no_gain = judge(gated(ratio=0.299), cfg, NAMES, champion=gated(ratio=0.3))
    assert not no_gain.passed and "does not beat the champion" in no_gain.reasons[0]
    worse = judge(
        gated(ratio=0.2, content=0.91), cfg, NAMES, champion=gated(ratio=0.3, content=0.99)
    )
    assert any("below the champion's" in r for r in worse.reasons)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(lineage.PARENT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)

    def train(seed: int = 0, **gate):
        params = tiny_params(cyclegan={"steps": 3, "seed": seed, "batch_size": 4, "base_channels": 4,
                                       "res_blocks": 1, "d_channels": 4, "log_every": 1},
                             gate={**LENIENT, **gate})  # fmt: skip
        run_translation(params, Layout(tmp_path), cache_dir=tmp_path / "cache")
        return params

    return tmp_path, train


def test_register_gate_force_and_rollback(project):
    root, train = project
    params = train(seed=0)
    first = register_translation(params, root)
    assert first["registered_model"] == "genforge-digits2typeset"
    assert first["candidate"]["passed"] and str(first["champion"]["version"]) == "1"
    saved = json.loads(Layout(root).translation_gate.read_text())
    assert saved["champion"] == first["champion"]
    assert (
        "Translation gate: register" in Layout(root).translation_gate.with_suffix(".md").read_text()
    )

    client = mlflow.MlflowClient(lineage.tracking_uri(params, root))
    mv = client.get_model_version_by_alias("genforge-digits2typeset", CHAMPION)
    assert mv.tags["family"] == TRANSLATION and mv.tags["kind"] == "translation"
    metrics = json.loads(Layout(root).metrics(TRANSLATION).read_text())
    assert mv.tags["checkpoint_sha256"] == metrics["checkpoint_sha256"]
    run = client.get_run(mv.tags["run_id"])
    assert run.data.metrics["a2b/fid"] == pytest.approx(metrics["a2b"]["fid"])
    assert client.get_metric_history(run.info.run_id, "train/loss_g")  # the curve, per step
    assert run.data.params["translation.cyclegan.steps"] == "3"
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert "evaluation/translations.png" in arts

    again = register_translation(params, root)  # unchanged candidate: its version, no new one
    assert str(again["candidate"]["version"]) == "1" and str(again["champion"]["version"]) == "1"

    strict = train(seed=1, content_min=1.0)  # a new model that fails the bar
    failed = register_translation(strict, root)
    assert str(failed["candidate"]["version"]) == "2" and not failed["candidate"]["passed"]
    assert any("content preservation" in r for r in failed["candidate"]["reasons"])
    assert str(failed["champion"]["version"]) == "1" and failed["promoted"] is None

    with pytest.raises(RegistryError, match="--reason"):
        promote_translation(strict, root, force=True)
    forced = promote_translation(strict, root, force=True, reason="demo of a forced promotion")
    assert str(forced["champion"]["version"]) == "2" and str(forced["previous"]["version"]) == "1"
    assert forced["forced"] and forced["reason"] == "demo of a forced promotion"

    back = rollback_translation(strict, root)
    assert str(back["champion"]["version"]) == "1" and str(back["previous"]["version"]) == "2"
    assert (
        str(client.get_model_version_by_alias("genforge-digits2typeset", PREVIOUS).version) == "2"
    )


def test_a_checkpoint_replaced_after_scoring_is_refused(project):
    root, train = project
    params = train(seed=0)
    out = Layout(root)
    shutil.copyfile(out.model_dir(TRANSLATION) / "train_log.jsonl", out.checkpoint(TRANSLATION))
    with pytest.raises(RegistryError, match="another file now"):
        register_translation(params, root)


def test_disabled_translation_registers_nothing(project):
    root, _ = project
    assert register_translation(tiny_params(enabled=False), root) is None
    assert not Layout(root).translation_gate.exists()
