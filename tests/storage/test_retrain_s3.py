"""The retrain flow end to end on the loopback S3 server, then a fresh clone uses it.

A throw-away copy of this repo with tiny params and `storage.backend: s3` pointing at
`rclone serve s3` on 127.0.0.1; MLflow is `mlflow server` with its artifacts on the
same S3. After one in-process `retrain` run: the bucket holds the DVC objects and the
MLflow artifacts, a fresh `git clone` can `dvc pull` the data and load the registry's
champion (artifacts from S3) and sample from it, and the credentials the processes
had appear nowhere MLflow, Prefect, DVC or the servers wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from genforge.config import load_params
from genforge.tracking.lineage import registered_model_name
from tests.flows.conftest import make_tiny_repo, prefect_env, run_ok
from tests.storage.conftest import genforge
from tests.storage.servers import BIN, mlflow_server
from tests.storage.test_dvc_s3 import tree

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BUCKET = "genforge-flow"

LOAD_CHAMPION = r"""
import sys, mlflow, pandas as pd
model = mlflow.pyfunc.load_model(f"models:/{sys.argv[1]}@champion")
out = model.predict(pd.DataFrame([{"n": 3, "seed": 0, "label": None}]))
print("images", len(out))
"""


def s3_repo(tmp_path: Path, s3, env: dict[str, str]) -> Path:
    """The tiny repo with its storage on `s3`: bucket created, DVC remote set and committed."""
    repo = make_tiny_repo(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["storage"] = {"backend": "s3", "s3_bucket": BUCKET, "s3_endpoint": s3.endpoint}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for args in (("storage", "check", "--create-buckets"), ("storage", "dvc-remote")):
        result = genforge(*args, env=env, cwd=repo)
        assert result.returncode == 0, result.stderr
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    run_ok([*git, "commit", "-qam", "storage on S3"], cwd=repo, env=env)
    return repo


def test_retrain_on_s3_then_a_fresh_clone_pulls_data_and_loads_the_champion(s3, tmp_path):
    env = {
        **prefect_env(tmp_path / "prefect-home"),
        **{k: v for k, v in s3.client_env().items() if k.startswith("AWS_")},
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
    }
    repo = s3_repo(tmp_path, s3, env)
    (tmp_path / "mlflow").mkdir()
    server = mlflow_server(tmp_path / "mlflow", s3, f"s3://{BUCKET}/mlflow", env)
    try:
        env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{server.port}"
        flow = run_ok([sys.executable, "-m", "flows.retrain"], cwd=repo, env=env, timeout=900)
        assert "champion" in flow.stdout, flow.stdout[-2000:]

        objects = [p for p in (s3.data / BUCKET).rglob("*") if p.is_file()]
        assert any("dvc" in p.parts for p in objects), "nothing pushed to the DVC remote"
        assert any("checkpoint.pt" in p.name for p in objects), "no model artifact on S3"
        config = (repo / ".dvc/config").read_text()
        assert f"s3://{BUCKET}/dvc" in config

        # every output the flow built is on the remote ...
        cloud = run_ok([str(BIN / "dvc"), "status", "--cloud", "--json"], cwd=repo, env=env)
        assert json.loads(cloud.stdout or "{}") == {}, cloud.stdout
        # ... and a fresh clone gets the data version the flow committed to git
        clone = tmp_path / "clone"
        run_ok(["git", "clone", "-q", str(repo), str(clone)], cwd=tmp_path, env=env)
        run_ok([str(BIN / "dvc"), "pull", "data/raw"], cwd=clone, env=env)
        assert tree(clone / "data" / "raw") == tree(repo / "data" / "raw")

        name = registered_model_name(load_params(repo / "params.yaml"))
        loaded = run_ok([sys.executable, "-c", LOAD_CHAMPION, name], cwd=clone, env=env)
        assert "images 3" in loaded.stdout
    finally:
        server.stop()

    assert_no_credentials(tmp_path, s3, [flow.stdout, flow.stderr, loaded.stdout, loaded.stderr])


def assert_no_credentials(tmp_path: Path, s3, outputs: list[str]) -> None:
    """Neither key appears in anything written: databases, objects, logs, repo, outputs."""
    skip = {".git"}
    written = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and not skip & set(p.parts) and p.stat().st_size < 50_000_000
    ]
    assert any(p.name == "mlflow.db" for p in written) and any(
        p.name == "prefect.db" for p in written
    )
    haystack = b"".join(p.read_bytes() for p in written) + "".join(outputs).encode()
    for secret in (s3.access_key, s3.secret_key):
        hits = [str(p) for p in written if secret.encode() in p.read_bytes()]
        assert secret.encode() not in haystack, f"credential found in {hits or 'process output'}"
