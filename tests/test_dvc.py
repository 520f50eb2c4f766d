"""dvc.yaml declares exact deps: every module a stage imports is a dependency of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from genforge.config import load_params
from genforge.models.registry import MODELS_DIR, family_names, family_sources, genforge_imports

REPO = Path(__file__).parents[1]


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


def family_deps(family: str, stage_name: str = "train") -> list[str]:
    """The deps of the foreach stage `stage_name`@`family`."""
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage_name]
    assert stage["foreach"] == "${models.families}"
    return [d.replace("${item}", family) for d in stage["do"]["deps"]]


def train_deps(family: str) -> list[str]:
    return family_deps(family, "train")


def test_train_stage_deps_cover_each_family_module():
    params = load_params(REPO / "params.yaml")
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["train"]
    for family in params.models.families:
        deps = train_deps(family)
        for path in family_sources(family):
            assert covered(path, deps), f"train@{family} does not depend on {path}"
        assert f"models.{family}" in [p.replace("${item}", family) for p in stage["do"]["params"]]


@pytest.mark.parametrize("stage", ["train", "evaluate"])
def test_a_family_stage_depends_on_no_other_family(stage):
    """Adding or editing one family's package leaves every other train@/evaluate@ stage fresh."""
    for family in family_names():
        deps = family_deps(family, stage)
        assert "src/genforge/models" not in deps, f"{stage}@{family} depends on all of models/"
        for other in set(family_names()) - {family}:
            for path in (MODELS_DIR / other).rglob("*.py"):
                assert not covered(path, deps), f"{stage}@{family} depends on {path}"


def test_evaluate_stage_depends_on_the_family_it_loads():
    """evaluate@X rebuilds X's model from its checkpoint: X's sources are deps, as for train."""
    for family in family_names():
        deps = family_deps(family, "evaluate")
        for path in family_sources(family):
            assert covered(path, deps), f"evaluate@{family} does not depend on {path}"


def test_family_sources_follow_the_imports():
    src = MODELS_DIR.parent
    diffusion = {p.relative_to(src).as_posix() for p in family_sources("diffusion")}
    assert {
        "models/diffusion/unet.py",
        "models/diffusion/schedule.py",
        "models/nets.py",
    } <= diffusion
    assert not any(p.startswith(("models/gan/", "models/vae/")) for p in diffusion)
    pixelcnn = genforge_imports(MODELS_DIR / "pixelcnn" / "__init__.py")
    assert MODELS_DIR / "nets.py" not in pixelcnn


def test_prepare_stage_reads_only_its_own_sections():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert stages["prepare"]["params"] == ["data"]
    assert all(p.startswith("data.") for p in stages["ingest"]["params"])
