"""A candidate that was trained and committed but never judged is judged by the next run.

When the register/gate task fails after `train_stale` committed the new models (MLflow
down, a crash), the next `retrain` finds nothing stale on unchanged data and used to
skip the gate, so the new model was never judged. The state such a failed run leaves
is built here the way the flow builds it: a changed family config, the family's stages
reproduced and committed by DVC, no gate run. The next flow run must register and judge
that candidate, and afterwards nothing is left without a verdict.
"""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from flows.retrain import unjudged

from genforge.config import load_params
from genforge.registry.versions import PASSED, candidate_key
from genforge.tracking.lineage import registered_model_name
from tests.flows.conftest import (
    BIN,
    TINY_FAMILIES,
    make_tiny_repo,
    prefect_env,
    run_ok,
    tiny_params_dict,
    version_tags,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_candidate_left_without_verdict_is_judged_by_the_next_run(tmp_path):
    repo = make_tiny_repo(tmp_path / "repo")
    env = prefect_env(tmp_path / "prefect-home")
    run_ok([sys.executable, "-m", "flows.retrain"], cwd=repo, env=env, timeout=900)

    # A new gan model, trained and committed (what train_stale does), never gated.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["models"]["gan"]["steps"] += 3
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_ok([str(BIN / "dvc"), "repro", "evaluate@gan"], cwd=repo, env=env)
    key = candidate_key(repo / "metrics" / "gan.json", repo / "models" / "gan" / "checkpoint.pt")
    assert key not in {t.get("candidate_key") for t in version_tags(repo)}
    assert unjudged.fn(str(repo), "params.yaml", TINY_FAMILIES) == ["gan"]

    flow = run_ok([sys.executable, "-m", "flows.retrain"], cwd=repo, env=env, timeout=900)
    # DVC: up to date, the translation included (it is listed when it runs: the one
    # second-run check of tests/flows/test_first_run.py); the gate ran regardless
    assert "trained: nothing" in flow.stdout

    judged = [t for t in version_tags(repo) if t.get("candidate_key") == key]
    assert len(judged) == 1 and PASSED in judged[0], judged
    report = json.loads((repo / "gate" / "report.json").read_text())
    assert report["families"]["gan"]["version"] is not None
    # every candidate has its verdict now: the next no-op run skips the gate again
    assert unjudged.fn(str(repo), "params.yaml", TINY_FAMILIES) == []


def test_unjudged_lists_families_whose_candidate_key_has_no_verdict(tmp_path):
    """On a real MLflow registry (SQLite): gan's candidate is registered with a verdict,
    vae's registered by a gate that failed before judging it, diffusion's never."""
    import mlflow

    families = ["gan", "vae", "diffusion"]
    repo = tmp_path / "repo"
    params = tiny_params_dict()
    params["models"]["families"] = families
    (repo / "metrics").mkdir(parents=True)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    keys = {}
    for family in families:
        (repo / "models" / family).mkdir(parents=True)
        (repo / "metrics" / f"{family}.json").write_text(json.dumps({"fid": len(family)}))
        (repo / "models" / family / "checkpoint.pt").write_bytes(family.encode())
        keys[family] = candidate_key(
            repo / "metrics" / f"{family}.json", repo / "models" / family / "checkpoint.pt"
        )
    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    name = registered_model_name(load_params(repo / "params.yaml"))
    client.create_registered_model(name)
    judged = {PASSED: "false", "candidate_key": keys["gan"]}
    client.create_model_version(name, str(tmp_path), tags=judged)
    client.create_model_version(name, str(tmp_path), tags={"candidate_key": keys["vae"]})

    # a failed verdict is a verdict: the gate does not judge the same candidate again
    assert unjudged.fn(str(repo), "params.yaml", families) == ["vae", "diffusion"]
    # a retrained gan is a new candidate
    (repo / "models" / "gan" / "checkpoint.pt").write_bytes(b"retrained")
    assert unjudged.fn(str(repo), "params.yaml", families) == ["gan", "vae", "diffusion"]
