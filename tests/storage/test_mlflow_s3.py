"""MLflow with its artifact store on a real S3 server (`rclone serve s3`), and no leaked keys.

Two ways a user runs it: a tracking server that proxies artifacts to S3
(`--artifacts-destination s3://...`: clients need no S3 credentials), and experiments
whose artifact location is s3:// itself (clients upload with their own credentials,
MLFLOW_S3_ENDPOINT_URL naming the endpoint). Both must log and load an artifact, and
the credentials every process had in its environment must show up nowhere MLflow
keeps things: params, tags, artifacts, the database, the server's and client's logs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from tests.storage.servers import mlflow_server

pytestmark = pytest.mark.integration
BUCKET = "genforge-mlflow"

# Runs in a subprocess with the credentials in its environment, as a worker would.
CLIENT = r"""
import json, sys, mlflow
from genforge.config import validate
mlflow.set_tracking_uri(sys.argv[1])
experiments = {"proxied": None, "direct": sys.argv[2]}
params = validate({"storage": {"backend": "s3", "s3_bucket": "genforge-mlflow"}})
flat = {f"storage.{k}": str(v) for k, v in params.storage.model_dump().items()}
out = {}
for name, location in experiments.items():
    exp = mlflow.create_experiment(name, artifact_location=location)
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_params(flat)
        mlflow.set_tags({"stage": "test", "endpoint": "s3"})
        mlflow.log_metric("fid", 1.5)
        mlflow.log_text(f"weights of {name}\n", "model/weights.txt")
        out[name] = run.info.run_id
print(json.dumps(out))
"""


def test_artifacts_on_s3_logged_loaded_and_no_credentials_anywhere(s3, tmp_path, monkeypatch):
    s3.make_bucket(BUCKET)
    env = s3.client_env()  # AWS_* credentials + endpoint, as on every stack machine
    server = mlflow_server(tmp_path, s3, f"s3://{BUCKET}/mlflow", env)
    try:
        uri = f"http://127.0.0.1:{server.port}"
        client_env = {**env, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint, "PYTHONPATH": str(Path.cwd())}
        direct = f"s3://{BUCKET}/direct"
        client = subprocess.run(
            [sys.executable, "-c", CLIENT, uri, direct],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert client.returncode == 0, client.stderr[-3000:]
        runs = json.loads(client.stdout.strip().splitlines()[-1])

        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"):
            monkeypatch.setenv(var, client_env[var])  # reading direct s3:// artifacts
        mlflow_client = mlflow.MlflowClient(uri)
        texts = {}
        for name, run_id in runs.items():
            run = mlflow_client.get_run(run_id)
            assert run.data.metrics["fid"] == 1.5
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path="model/weights.txt",
                tracking_uri=uri,
                dst_path=str(tmp_path / "dl" / name),
            )
            texts[name] = Path(local).read_text()
            assert texts[name] == f"weights of {name}\n"
            secrets = [s3.access_key, s3.secret_key]
            values = [*run.data.params.values(), *run.data.tags.values()]
            assert not [v for v in values for s in secrets if s in v], name
        # the objects are in the bucket on the S3 server, not on the MLflow host's disk
        stored = {p.read_text() for p in (s3.data / BUCKET).rglob("weights.txt")}
        assert stored == set(texts.values())
        assert any((s3.data / BUCKET / "mlflow").rglob("weights.txt"))  # proxied
        assert any((s3.data / BUCKET / "direct").rglob("weights.txt"))  # direct
    finally:
        server.stop()

    # Everything MLflow and the servers wrote: database, objects, logs, client output.
    written = [tmp_path / "mlflow.db", *[p for p in s3.data.rglob("*") if p.is_file()]]
    written += [tmp_path / "mlflow.log", s3.root / "rclone.log"]
    haystack = b"".join(p.read_bytes() for p in written)
    haystack += (client.stdout + client.stderr).encode()
    assert len(haystack) > 10_000  # really looked at something
    for secret in (s3.access_key, s3.secret_key):
        assert secret.encode() not in haystack
