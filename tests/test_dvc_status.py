"""What `dvc status` marks stale when a family is added or edited (issue 13): only that
family's stages (and the report and studies, which read every family), never the other
families' train@/evaluate@ stages.

The project's dvc.yaml, params.yaml and src/ are copied into a fresh git + DVC repo; the
stages' outputs are stand-in files recorded with `dvc commit` (what is measured is DVC's
dependency hashing, not training), so the test takes seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from genforge import dvc_repo
from genforge.layout import (
    CALIBRATION,
    FEATURIZER_METRICS,
    FEATURIZER_WEIGHTS,
    STUDIES,
    TRANSLATION,
    Layout,
)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _families(root: Path) -> list[str]:
    return yaml.safe_load((root / "params.yaml").read_text())["models"]["families"]


def _write_outputs(root: Path) -> None:
    """A stand-in file in every stage output, so `dvc commit` can record the pipeline."""
    out = Layout(root)
    for path in (out.raw / "x", out.prepared / "x", out.folder("studies") / STUDIES):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("stand-in\n")
    for name in (FEATURIZER_WEIGHTS, FEATURIZER_METRICS, CALIBRATION):
        (out.featurizer / name).parent.mkdir(parents=True, exist_ok=True)
        (out.featurizer / name).write_text("{}\n")
    for f in [*_families(root), TRANSLATION]:  # the translate stage's outputs too
        for path in (out.model_dir(f) / "x", out.evals(f) / "x", out.reports / "x"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("stand-in\n")
        out.metrics(f).parent.mkdir(parents=True, exist_ok=True)
        out.metrics(f).write_text(json.dumps({"fid": 1.0}) + "\n")
        for plot in (out.loss_plot(f), out.fid_plot(f)):
            plot.parent.mkdir(parents=True, exist_ok=True)
            plot.write_text("[]\n")


def _stale(root: Path) -> set[str]:
    report = json.loads(dvc_repo.dvc("status", "--json", cwd=root, capture=True) or "{}")
    return set(report)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc_repo.dvc("init", "-q", cwd=root, capture=True)
    dvc_repo.dvc("config", "core.analytics", "false", cwd=root, capture=True)
    _write_outputs(root)
    dvc_repo.dvc("commit", "--force", cwd=root, capture=True)
    assert _stale(root) == set()
    return root


def _add_toy_family(root: Path) -> None:
    """A new family as a user adds one: its package and its params.yaml section."""
    models = root / "src/genforge/models"
    shutil.copytree(models / "vae", models / "toy", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["models"]["toy"] = dict(params["models"]["vae"])
    params["models"]["families"].append("toy")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "models/toy").mkdir(parents=True)
    (root / "evals/toy").mkdir(parents=True)


def test_adding_a_family_leaves_the_other_families_fresh(project):
    before = _families(project)
    _add_toy_family(project)
    stale = _stale(project)
    assert {"train@toy", "evaluate@toy"} <= stale
    assert not {f"{s}@{f}" for f in before for s in ("train", "evaluate")} & stale, stale
    assert stale - {"train@toy", "evaluate@toy"} <= {"study", "report"}  # not translate


def test_editing_a_family_makes_only_it_stale(project):
    gan = project / "src/genforge/models/gan/__init__.py"
    gan.write_text(gan.read_text() + "\n# a change to the GAN only\n")
    stale = _stale(project)
    assert {"train@gan", "evaluate@gan"} <= stale
    others = {f"{s}@{f}" for f in _families(project) if f != "gan" for s in ("train", "evaluate")}
    assert not others & stale, stale
    assert stale - {"train@gan", "evaluate@gan"} <= {"study", "report"}


def test_editing_the_translation_model_makes_only_translate_stale(project):
    cyclegan = project / "src/genforge/translation/cyclegan.py"
    cyclegan.write_text(cyclegan.read_text() + "\n# a change to the CycleGAN only\n")
    assert _stale(project) == {"translate"}  # the report reads its files, not its code


def test_the_curves_are_dvc_plots(project):
    """`dvc plots show` reads the losses and FID curves the stages write (JSON arrays)."""
    from genforge.evaluation.curve import write_curve
    from genforge.plots import losses_plot

    out = Layout(project)
    log = project / "train_log.jsonl"
    log.write_text(
        "".join(json.dumps({"step": s, "loss": 1.0 / s, "lr": 0.1}) + "\n" for s in (1, 2))
    )
    losses_plot(log, out.loss_plot("gan"))
    write_curve(out.fid_plot("gan"), [{"step": 500, "fid": 3.0, "n_samples": 200}])
    shown = json.loads(dvc_repo.dvc("plots", "show", "--json", cwd=project, capture=True))
    assert not shown.get("errors"), shown.get("errors")
    data = shown["data"]
    values = data[str(Layout(Path("")).loss_plot("gan"))][0]["content"]["data"]["values"]
    assert [v["step"] for v in values] == [1, 2]
    fid = data[str(Layout(Path("")).fid_plot("gan"))][0]["content"]
    assert fid["data"]["values"][0]["fid"] == 3.0 and fid["encoding"]["x"]["field"] == "step"
