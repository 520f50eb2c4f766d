"""dvc.yaml's study and report stages depend on every module they import."""

from __future__ import annotations

import yaml

from tests.test_dvc import REPO, covered, genforge_imports


def stage(name: str) -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][name]


def test_report_stage_covers_its_imports_and_inputs():
    report = stage("report")
    modules = (REPO / "src/genforge/report").glob("*.py")
    for module in [m for m in modules if m.name != "studies.py"]:  # the study stage's
        for path in {module} | genforge_imports(module):
            assert covered(path, report["deps"]), f"report does not depend on {path}"
    assert {"models", "metrics", "evals", "studies", "data/prepared"} <= set(report["deps"])
    assert report["outs"] == ["reports"] and "report" in report["params"]


def test_study_stage_covers_its_imports():
    study = stage("study")
    for module in (REPO / "src/genforge/studies").glob("*.py"):  # its own package since 75f9939
        for path in {module} | genforge_imports(module):
            assert covered(path, study["deps"]), f"study does not depend on {path}"
    assert study["outs"] == ["studies"]
    assert {"report.datasets", "report.transfer", "report.study_steps"} <= set(study["params"])
