"""genforge.layout names every output path once, and dvc.yaml declares the same paths."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from genforge import layout
from genforge.layout import FOLDERS, Layout

REPO = Path(__file__).resolve().parents[1]
ITEM = "${item}"  # the family, in dvc.yaml's foreach stages
# Other files that happen to share a name with an output (not paths of a run).
SAME_NAME = {("src/genforge/serving/app.py", "index.html")}  # the serving page's own file


def _outs(stage: dict, key: str = "outs") -> list[str]:
    """A stage's outputs (or metrics) as paths, without their options."""
    return [next(iter(o)) if isinstance(o, dict) else o for o in stage.get(key) or []]


def test_dvc_yaml_declares_the_layouts_paths():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    out = Layout(Path(""))
    assert _outs(stages["ingest"]) == [str(out.raw)]
    assert _outs(stages["prepare"]) == [str(out.prepared)]
    assert _outs(stages["train"]["do"]) == [str(out.model_dir(ITEM))]
    assert _outs(stages["featurizer"]) == [str(out.featurizer / layout.FEATURIZER_WEIGHTS)]
    assert _outs(stages["featurizer"], "metrics") == [
        str(out.featurizer / layout.FEATURIZER_METRICS),
        str(out.featurizer / layout.CALIBRATION),
    ]
    assert _outs(stages["evaluate"]["do"], "metrics") == [str(out.metrics(ITEM))]
    assert _outs(stages["evaluate"]["do"]) == [str(out.evals(ITEM))]
    assert _outs(stages["study"]) == [FOLDERS["studies"]]
    assert _outs(stages["report"]) == [str(out.reports)]
    # the DVC plots: losses per train@, FID against step per evaluate@, the translation's losses
    assert _outs(stages["train"]["do"], "plots") == [str(out.loss_plot(ITEM))]
    assert _outs(stages["evaluate"]["do"], "plots") == [str(out.fid_plot(ITEM))]
    assert _outs(stages["translate"], "plots") == [str(out.loss_plot(layout.TRANSLATION))]
    assert _outs(stages["translate"]) == [
        str(out.model_dir(layout.TRANSLATION)),
        str(out.evals(layout.TRANSLATION)),
    ]
    # what the evaluation reads: the family's training output and the featurizer's files
    deps = stages["evaluate"]["do"]["deps"]
    assert str(out.model_dir(ITEM)) in deps and str(out.prepared) in deps
    assert str(out.featurizer / layout.FEATURIZER_WEIGHTS) in deps


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """String literals of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def test_no_module_but_the_layout_spells_an_output_path():
    """A file name or folder of the layout written as a literal elsewhere would not move
    with it (messages may still say "models/<family>" in words)."""
    names = {v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str) and "." in v}
    folders = {v for v in FOLDERS.values() if "/" in v} | {v + "/" for v in FOLDERS.values()}
    found = []
    for path in sorted([*(REPO / "src/genforge").rglob("*.py"), *(REPO / "flows").glob("*.py")]):
        if path.name == "layout.py":
            continue
        for line, text in _string_constants(path):
            where = str(path.relative_to(REPO))
            if (where, text) in SAME_NAME:
                continue
            if text in names or text in folders or any(text.startswith(f) for f in folders):
                found.append(f"{where}:{line}: {text!r}")
    assert not found, "use genforge.layout instead of:\n" + "\n".join(found)
