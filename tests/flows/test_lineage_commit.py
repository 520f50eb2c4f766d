"""A registered model version's `git_commit` tag must name a commit whose dvc.lock records
that very model: `git checkout <git_commit> && dvc pull` must give back what was promoted.
The flow used to register first and commit the run's lineage (dvc.lock, metrics) after,
so the tag named the commit before, which records no (or an older) model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from genforge.config import load_params
from genforge.tracking.lineage import registered_model_name
from tests.flows.conftest import make_tiny_repo, prefect_env, run_ok

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VERSIONS = r"""
import json, sys, mlflow
client = mlflow.MlflowClient("sqlite:///mlflow.db")
found = client.search_model_versions(f"name = '{sys.argv[1]}'")
print(json.dumps([dict(client.get_model_version(v.name, v.version).tags) for v in found]))
"""


def version_tags(repo) -> list[dict[str, str]]:
    name = registered_model_name(load_params(repo / "params.yaml"))
    out = run_ok([sys.executable, "-c", VERSIONS, name], cwd=repo, env=dict(os.environ)).stdout
    return json.loads(out.strip().splitlines()[-1])


def train_out_md5(lock_text: str, family: str) -> str | None:
    stage = (yaml.safe_load(lock_text) or {}).get("stages", {}).get(f"train@{family}", {})
    return next((o.get("md5") for o in stage.get("outs", [])), None)


def test_a_registered_version_names_the_commit_that_records_its_model(tmp_path):
    repo = make_tiny_repo(tmp_path / "repo")
    env = prefect_env(tmp_path / "prefect-home")
    run_ok([sys.executable, "-m", "flows.retrain"], cwd=repo, env=env, timeout=900)
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
