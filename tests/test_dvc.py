"""dvc.yaml declares exact deps: every module a stage imports is a dependency of it."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from genforge.config import load_params

REPO = Path(__file__).parents[1]


def genforge_imports(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """The genforge source files `path` imports, transitively (config.py and errors.py aside)."""
    seen = seen if seen is not None else set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genforge."):
            mod = REPO / "src" / Path(*node.module.split("."))
            target = (
                mod.with_suffix(".py") if mod.with_suffix(".py").is_file() else mod / "__init__.py"
            )
            if target not in seen and target.name not in ("config.py", "errors.py"):
                seen.add(target)
                genforge_imports(target, seen)
    return seen


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


def test_train_stage_deps_cover_each_family_module():
    params = load_params(REPO / "params.yaml")
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["train"]
    assert stage["foreach"] == "${models.families}"
    for family in params.models.families:
        deps = [d.replace("${item}", family) for d in stage["do"]["deps"]]
        module = REPO / "src/genforge/models" / f"{family}.py"
        for path in {module} | genforge_imports(module):
            assert covered(path, deps), f"train@{family} does not depend on {path}"
        assert f"models.{family}" in [p.replace("${item}", family) for p in stage["do"]["params"]]
        others = set(params.models.families) - {family}
        assert not any(d.endswith(f"/{o}.py") for o in others for d in deps)


def test_prepare_stage_reads_only_its_own_sections():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert stages["prepare"]["params"] == ["data"]
    assert all(p.startswith("data.") for p in stages["ingest"]["params"])
