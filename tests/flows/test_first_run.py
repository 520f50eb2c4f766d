"""What one `make run`-style flow run on a fresh tiny repo must leave behind.

The tests here read the state of a single flow run (a module fixture: each full run
costs most of a minute), and none of them changes it. That a second run with nothing
stale trains nothing, the translation included, is tested by tests/flows/test_gate_retry.py:
its second run must print "trained: nothing" (the translation is listed when it runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genforge.config import load_params
from genforge.layout import TRANSLATION, Layout
from genforge.tracking.lineage import translation_model_name
from tests.flows.conftest import make_tiny_repo, prefect_env, run_ok, version_tags

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALIASES = r"""
import json, sys, mlflow
client = mlflow.MlflowClient("sqlite:///mlflow.db")
mv = client.get_model_version_by_alias(sys.argv[1], "champion")
print(json.dumps(dict(mv.tags)))
"""


DIGITS_CAP = {"max_per_class": 12}  # the tiny shapes have 12 per class already


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, dict[str, str], subprocess.CompletedProcess]:
    """(repo, env, the flow's result) after one flow run on a fresh tiny repo (read-only)."""
    tmp = tmp_path_factory.mktemp("first-run")
    # The default studies (tables 6 and 7) at test scale: digits (12 per class) beside the
    # tiny shapes, the main run's models fine-tuned there.
    report = {"datasets": ["digits", "shapes"], "transfer": {}, "study_steps": 3}
    repo = make_tiny_repo(tmp / "repo", report=report | {"study_samples": 10}, data=DIGITS_CAP)
    env = prefect_env(tmp / "prefect-home")
    result = run_ok([sys.executable, "-m", "flows.retrain"], cwd=repo, env=env, timeout=900)
    return repo, env, result


def last_json_line(cmd: list[str], repo: Path):
    out = run_ok(cmd, cwd=repo, env=dict(os.environ)).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_flow_trains_gates_and_registers_the_translation(first_run):
    """`make run`'s flow trains, judges and registers the translation model beside the
    families: the `translate` stage runs once (DVC records it), its version lands in its
    own registered model with a verdict, and the summary and the report show it."""
    repo, env, first = first_run
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
    tags = last_json_line([sys.executable, "-c", ALIASES, name], repo)
    assert tags["checkpoint_sha256"] == metrics["checkpoint_sha256"]
    report = json.loads((layout.reports / "report.json").read_text())
    assert "11" in json.dumps(report) and "translation" in json.dumps(report)
    # recorded by DVC: nothing is stale after the run
    status = run_ok([sys.executable, "-m", "dvc", "status", "--json"], cwd=repo, env=env)
    assert json.loads(status.stdout or "{}") == {}


def test_the_default_run_fills_every_table(first_run):
    """Tables 6 and 7 come out of the flow with numbers: the study stage trains digits
    beside the main run (shapes) and fine-tunes the main run's models there."""
    repo, _, first = first_run
    assert "study: gan on digits, 3 steps fine-tuned" in first.stdout
    report = json.loads((Layout(repo).reports / "report.json").read_text())
    tables = {t["number"]: t for t in report["tables"]}
    assert not tables["6"]["unavailable"] and not tables["7"]["unavailable"]
    assert [r[:2] for r in tables["6"]["rows"]] == [
        ["gan", "shapes (main run)"],
        ["vae", "shapes (main run)"],
    ]
    assert {r[0] for r in tables["7"]["rows"]} == {"digits", "shapes (main run)"}


def train_out_md5(lock_text: str, family: str) -> str | None:
    stage = (yaml.safe_load(lock_text) or {}).get("stages", {}).get(f"train@{family}", {})
    return next((o.get("md5") for o in stage.get("outs", [])), None)


def test_a_registered_version_names_the_commit_that_records_its_model(first_run):
    """A registered model version's `git_commit` tag must name a commit whose dvc.lock
    records that very model: `git checkout <git_commit> && dvc pull` must give back what
    was promoted. The flow used to register first and commit the run's lineage
    (dvc.lock, metrics) after, so the tag named the commit before, which records no (or
    an older) model."""
    repo, _, _ = first_run
    now = (repo / "dvc.lock").read_text()
    tags = version_tags(repo)
    assert tags
    for t in tags:
        at_commit = subprocess.run(
            ["git", "show", f"{t['git_commit']}:dvc.lock"], cwd=repo, capture_output=True, text=True
        ).stdout
        family = t["family"]
        assert train_out_md5(now, family) is not None
        assert train_out_md5(at_commit, family) == train_out_md5(now, family), family
