"""Imports go one way: no cycle between evaluation modules, models/ below training/."""

from __future__ import annotations

from genforge.models.registry import SRC, genforge_imports

PKG = SRC / "genforge"


def test_curve_and_evaluate_do_not_import_each_other():
    curve, evaluate = PKG / "evaluation/curve.py", PKG / "evaluation/evaluate.py"
    assert evaluate not in genforge_imports(curve)
    assert PKG / "evaluation/sampling.py" in genforge_imports(curve)


def test_the_model_interface_imports_nothing_from_training():
    """models/base.py is what families build on; the trainer's DDP sync lives in training/."""
    for path in (PKG / "models/base.py", PKG / "models/__init__.py"):
        imported = genforge_imports(path)
        assert not [p for p in imported if (PKG / "training") in p.parents], path
