"""`make run`'s flow trains, judges and registers the translation model beside the families:
the `translate` stage runs once (DVC records it), its version lands in its own registered
model with a verdict, the summary and the report show it, and a second run trains nothing."""

from __future__ import annotations

import json
import os
import sys

import pytest

from genforge.config import load_params
from genforge.layout import TRANSLATION, Layout
from genforge.tracking.lineage import translation_model_name
from tests.flows.conftest import make_tiny_repo, prefect_env, run_ok

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALIASES = r"""
import json, sys, mlflow
client = mlflow.MlflowClient("sqlite:///mlflow.db")
mv = client.get_model_version_by_alias(sys.argv[1], "champion")
print(json.dumps(dict(mv.tags)))
"""


def test_the_flow_trains_gates_and_registers_the_translation(tmp_path):
    repo = make_tiny_repo(tmp_path / "repo")
    env = prefect_env(tmp_path / "prefect-home")
    first = run_ok([sys.executable, "-m", "flows.retrain"], cwd=repo, env=env, timeout=900)
    out = first.stdout
    # library chatter a user can do nothing about stays out (flows/__init__.py); MLflow's
    # register_model still prints "Created version N" with print(), not its logger
    for noise in ("Downloading artifacts", "Creating initial MLflow"):
        assert noise not in out + first.stderr, noise
    layout = Layout(repo)
    metrics = json.loads(layout.metrics(TRANSLATION).read_text())
    assert metrics["enabled"] and metrics["steps"] == 4
    assert layout.translation_grid.is_file() and layout.loss_plot(TRANSLATION).is_file()
    gate = json.loads(layout.translation_gate.read_text())
    assert gate["candidate"]["passed"] and gate["champion"] is not None
    assert "translation (cyclegan, genforge-digits2typeset): passed" in out
    name = translation_model_name(load_params(repo / "params.yaml"))
    tags = json.loads(
        run_ok([sys.executable, "-c", ALIASES, name], cwd=repo, env=dict(os.environ))
        .stdout.strip()
        .splitlines()[-1]
    )
    assert tags["checkpoint_sha256"] == metrics["checkpoint_sha256"]
    report = json.loads((layout.reports / "report.json").read_text())
    assert "11" in json.dumps(report) and "translation" in json.dumps(report)
    # recorded by DVC: nothing stale, a second run trains nothing
    status = run_ok([sys.executable, "-m", "dvc", "status", "--json"], cwd=repo, env=env)
    assert json.loads(status.stdout or "{}") == {}
    again = run_ok([sys.executable, "-m", "flows.retrain"], cwd=repo, env=env, timeout=900).stdout
    assert "trained: nothing" in again
