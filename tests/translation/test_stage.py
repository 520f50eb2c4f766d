"""The `translate` stage: its outputs, its DVC declaration, the CLI, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from genforge import cli
from genforge.config import validate
from genforge.layout import TRANSLATION, Layout
from genforge.translation.stage import run_translation
from tests.test_dvc import REPO, covered, genforge_imports
from tests.translation.conftest import TINY, make_layout

# the contract of metrics/cyclegan.json (the report and the registry read these)
TOP_KEYS = {
    "family", "kind", "enabled", "name", "source", "domains", "directions", "image_shape",
    "labelled", "a2b", "b2a", "fid_vs_identity_mean", "content_preservation_min", "steps",
    "train_seconds", "images_per_second", "generator_parameters", "checkpoint_sha256",
    "data_sha256", "seed",
}  # fmt: skip
ROW_KEYS = {
    "fid",
    "identity_fid",
    "floor_fid",
    "fid_vs_identity",
    "cycle_error",
    "content_preservation",
}


def tiny_params(**translation):
    return validate(
        {
            "featurizer": {
                "steps": 20,
                "width": 8,
                "feature_dim": 16,
                "calibration_required": False,
            },
            "translation": {
                "data": {"image_size": 8, "typeset_per_class": 20},
                "cyclegan": {**TINY, "steps": 4},
                "grid_columns": 4,
                **translation,
            },
        }
    )


def test_run_translation_writes_metrics_checkpoint_and_grid(tmp_path):
    out = Layout(tmp_path)
    m = run_translation(tiny_params(), out, cache_dir=tmp_path / "cache")
    saved = json.loads(out.metrics(TRANSLATION).read_text())
    assert saved == m and set(m) >= TOP_KEYS
    for d in ("a2b", "b2a"):
        assert set(m[d]) >= ROW_KEYS
        assert m[d]["fid_vs_identity"] == pytest.approx(
            m[d]["fid"] / m[d]["identity_fid"], rel=1e-4
        )
    assert m["directions"]["a2b"] == "handwritten digits -> typeset digits"
    assert m["steps"] == 4 and m["image_shape"] == [1, 8, 8]
    assert out.checkpoint(TRANSLATION).is_file() and out.translation_grid.is_file()
    assert sorted(p.name for p in out.domain_featurizers.iterdir()) == ["A", "B"]


def test_disabled_translation_records_why_and_trains_nothing(tmp_path):
    out = Layout(tmp_path)
    m = run_translation(tiny_params(enabled=False), out, cache_dir=tmp_path / "cache")
    assert m["enabled"] is False and "translation.enabled" in m["reason"]
    assert not out.checkpoint(TRANSLATION).exists()
    assert out.model_dir(TRANSLATION).is_dir() and out.evals(TRANSLATION).is_dir()  # DVC outs


def test_cli_translate_on_a_broken_folder_names_it_and_writes_nothing(
    tmp_path, monkeypatch, capsys
):
    root = make_layout(tmp_path / "pair", ["x", "y"])
    (root / "testB" / "y").rename(root / "testB" / "z")  # testB's classes differ from trainB's
    params = {"translation": {"data": {"source": "folder", "path": str(root), "image_size": 8}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["translate"]) == 1
    err = capsys.readouterr().err
    assert "testB" in err and "classes" in err
    assert not (tmp_path / Layout().metrics(TRANSLATION)).exists()
    assert not (tmp_path / Layout().checkpoint(TRANSLATION)).exists()


def test_dvc_stage_declares_the_layout_and_covers_its_imports():
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["translate"]
    out = Layout(Path(""))
    assert stage["cmd"] == "genforge translate"
    assert stage["outs"] == [str(out.model_dir(TRANSLATION)), str(out.evals(TRANSLATION))]
    assert stage["metrics"] == [{str(out.metrics(TRANSLATION)): {"cache": False}}]
    module = REPO / "src/genforge/translation/stage.py"
    for path in {module} | genforge_imports(module):
        assert covered(path, stage["deps"]), f"translate does not depend on {path}"
    # its own data: no family's model code, no prepared data of the main dataset
    assert not [d for d in stage["deps"] if d.startswith(("src/genforge/models/", "data/"))
                and d not in ("src/genforge/models/base.py", "src/genforge/models/common.py")]  # fmt: skip
    assert stage["params"] == ["translation", "featurizer", "evaluate.seed", "evaluate.cache_dir"]
