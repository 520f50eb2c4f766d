"""`genforge storage check`: against a real `rclone serve s3`, every failure is one clear line."""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from genforge.config import ParamsError, StorageConfig, validate
from genforge.storage.s3 import S3Target, explain, resolve, resolve_endpoint
from tests.storage.conftest import genforge, write_params
from tests.storage.servers import free_port

BUCKET = "genforge-check"


def one_error_line(result) -> str:
    """The CLI's expected-failure contract: exit 1, one `error:` line, no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# ---------------------------------------------------------------- fast unit tests
def target(endpoint="http://127.0.0.1:9") -> S3Target:
    return S3Target(endpoint, "storage.s3_endpoint", "s3://b/dvc", "s3://b/mlflow")


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "HeadBucket")


@pytest.mark.parametrize(
    "code, words",
    [
        ("InvalidAccessKeyId", "AWS_ACCESS_KEY_ID"),
        ("SignatureDoesNotMatch", "AWS_SECRET_ACCESS_KEY"),
        ("ExpiredToken", "AWS_SESSION_TOKEN"),
        ("404", "does not exist"),
        ("NoSuchBucket", "--create-buckets"),
        ("403", "denied"),
    ],
)
def test_explain_names_the_problem_and_the_fix(code, words):
    message = explain(client_error(code), target(), bucket="b")
    assert words in message and "\n" not in message
    assert "http://127.0.0.1:9" in message


def test_explain_endpoint_down():
    exc = EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    assert "down or unreachable" in explain(exc, target())


def test_endpoint_precedence_params_then_env():
    cfg = StorageConfig(backend="s3", s3_bucket="bkt")
    env = {"MLFLOW_S3_ENDPOINT_URL": "http://m:1", "AWS_ENDPOINT_URL": "http://a:2/"}
    assert resolve_endpoint(cfg, env) == ("http://a:2", "AWS_ENDPOINT_URL")
    assert resolve_endpoint(cfg, {"MLFLOW_S3_ENDPOINT_URL": "http://m:1"})[1] == (
        "MLFLOW_S3_ENDPOINT_URL"
    )
    assert resolve_endpoint(cfg, {}) == (None, "AWS")
    pinned = StorageConfig(backend="s3", s3_bucket="bkt", s3_endpoint="http://p:3")
    assert resolve_endpoint(pinned, env) == ("http://p:3", "storage.s3_endpoint")


def test_targets_and_buckets():
    cfg = StorageConfig(backend="s3", s3_bucket="data", mlflow_artifacts_uri="s3://arts/mlflow/")
    t = resolve(cfg, {})
    assert t.dvc_url == "s3://data/dvc" and t.mlflow_artifacts_uri == "s3://arts/mlflow"
    assert t.buckets == ["data", "arts"]
    assert resolve(StorageConfig(backend="s3", s3_bucket="data"), {}).buckets == ["data"]


@pytest.mark.parametrize(
    "storage, words",
    [
        ({"backend": "s3", "s3_bucket": "Bad_Bucket"}, "storage.s3_bucket"),
        ({"backend": "s3", "s3_bucket": "ok-b", "s3_endpoint": "127.0.0.1:9000"}, "http://"),
        ({"backend": "s3", "s3_bucket": "ok-b", "mlflow_artifacts_uri": "/tmp/x"}, "s3://"),
    ],
)
def test_bad_storage_params_are_rejected(storage, words):
    with pytest.raises(ParamsError) as err:
        validate({"storage": storage})
    assert words in str(err.value)


# ---------------------------------------------------- against a real S3 server
@pytest.mark.integration
def test_check_ok_missing_bucket_then_created(s3, tmp_path):
    params = write_params(tmp_path / "params.yaml", s3, BUCKET)
    env = s3.client_env()
    line = one_error_line(genforge("--params", str(params), "storage", "check", env=env))
    assert f"bucket '{BUCKET}' does not exist" in line and "--create-buckets" in line

    created = genforge("--params", str(params), "storage", "check", "--create-buckets", env=env)
    assert created.returncode == 0, created.stderr
    assert f"bucket {BUCKET}: created, writable" in created.stdout
    assert (s3.data / BUCKET).is_dir()

    again = genforge("--params", str(params), "storage", "check", env=env)
    assert again.returncode == 0 and f"bucket {BUCKET}: exists, writable" in again.stdout
    assert f"DVC remote: s3://{BUCKET}/dvc" in again.stdout
    # the probe object is gone again: nothing left behind in the user's bucket
    listing = boto3.client("s3", endpoint_url=s3.endpoint, **keys(s3)).list_objects_v2(
        Bucket=BUCKET
    )
    assert listing.get("KeyCount", 0) == 0


def keys(s3) -> dict[str, str]:
    return {"aws_access_key_id": s3.access_key, "aws_secret_access_key": s3.secret_key}


@pytest.mark.integration
@pytest.mark.parametrize(
    "var, expected",
    [
        ("AWS_SECRET_ACCESS_KEY", "the secret key (AWS_SECRET_ACCESS_KEY) does not match"),
        ("AWS_ACCESS_KEY_ID", "the access key id (AWS_ACCESS_KEY_ID) is unknown"),
    ],
)
def test_bad_credentials(s3, tmp_path, var, expected):
    s3.make_bucket(BUCKET)
    params = write_params(tmp_path / "params.yaml", s3, BUCKET)
    env = s3.client_env(**{var: "wrong-" + var.lower()})
    line = one_error_line(genforge("--params", str(params), "storage", "check", env=env))
    assert "credentials rejected" in line and expected in line
    assert s3.secret_key not in line and "wrong-" not in line  # no key material echoed


@pytest.mark.integration
def test_no_credentials(s3, tmp_path):
    params = write_params(tmp_path / "params.yaml", s3, BUCKET)
    env = s3.client_env(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent")
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    line = one_error_line(genforge("--params", str(params), "storage", "check", env=env))
    assert "no S3 credentials" in line


@pytest.mark.integration
def test_endpoint_down(s3, tmp_path):
    s3.make_bucket(BUCKET)
    params = write_params(tmp_path / "params.yaml", s3, BUCKET)
    env = s3.client_env()
    assert genforge("--params", str(params), "storage", "check", env=env).returncode == 0
    s3.stop()
    line = one_error_line(genforge("--params", str(params), "storage", "check", env=env))
    assert f"S3 endpoint {s3.endpoint}" in line and "down or unreachable" in line


@pytest.mark.integration
def test_endpoint_from_env_when_params_leave_it_out(s3, tmp_path):
    """params without s3_endpoint: AWS_ENDPOINT_URL decides (as for every boto3 user)."""
    s3.make_bucket(BUCKET)
    params = tmp_path / "params.yaml"
    params.write_text(f"storage: {{backend: s3, s3_bucket: {BUCKET}}}\n")
    ok = genforge("--params", str(params), "storage", "check", env=s3.client_env())
    assert ok.returncode == 0 and "(from AWS_ENDPOINT_URL)" in ok.stdout
    elsewhere = s3.client_env(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    line = one_error_line(genforge("--params", str(params), "storage", "check", env=elsewhere))
    assert "down or unreachable" in line


def test_local_backend_has_nothing_to_check(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("storage: {backend: local}\n")
    result = genforge("--params", str(params), "storage", "check", env=dict(os.environ))
    assert result.returncode == 0 and "nothing to check" in result.stdout
