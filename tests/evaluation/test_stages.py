"""dvc.yaml: the featurizer and evaluate stages depend on every module they import."""

from __future__ import annotations

import yaml

from genforge.config import load_params
from tests.test_dvc import REPO, covered, genforge_imports


def stages():
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_featurizer_stage_deps_cover_its_imports():
    stage = stages()["featurizer"]
    module = REPO / "src/genforge/evaluation/featurizer.py"
    for path in {module} | genforge_imports(module):
        assert covered(path, stage["deps"]), f"featurizer does not depend on {path}"
    assert stage["params"] == ["featurizer", "evaluate"]  # the calibration scores with evaluate.*
    assert "data/prepared" in stage["deps"]


def test_evaluate_stage_is_a_foreach_whose_deps_cover_its_imports():
    stage = stages()["evaluate"]
    assert stage["foreach"] == "${models.families}"
    for family in load_params(REPO / "params.yaml").models.families:
        deps = [d.replace("${item}", family) for d in stage["do"]["deps"]]
        for module in (REPO / "src/genforge/evaluation").glob("*.py"):
            for path in {module} | genforge_imports(module):
                assert covered(path, deps), f"evaluate@{family} does not depend on {path}"
        assert {f"models/{family}", "models/featurizer/featurizer.pt", "data/prepared"} <= set(deps)
    metrics = stage["do"]["metrics"]
    assert metrics == [{"metrics/${item}.json": {"cache": False}}]
    assert stage["do"]["params"] == ["evaluate"]
