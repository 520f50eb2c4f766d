"""Where genforge's S3 data lives, one boto3 client for it, and plain-words S3 errors.

genforge never reads, stores or passes credentials: boto3 (and DVC's s3fs, and
MLflow) take AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) from
the environment or ~/.aws themselves, so no credential can end up in .dvc/config,
in MLflow params, tags or artifacts, or in a log line written here.

The endpoint: `storage.s3_endpoint` when set (params.yaml is the source of truth, and
it is what `dvc remote` is configured with); else AWS_ENDPOINT_URL, else
MLFLOW_S3_ENDPOINT_URL; else AWS itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from genforge.config import StorageConfig
from genforge.errors import GenforgeError

ENDPOINT_VARS = ("AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
# An expected failure should surface in seconds, not after botocore's long default retries.
CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"}
)

CREDENTIAL_CODES = {
    "InvalidAccessKeyId": "the access key id (AWS_ACCESS_KEY_ID) is unknown to it",
    "SignatureDoesNotMatch": "the secret key (AWS_SECRET_ACCESS_KEY) does not match the access key id",
    "InvalidToken": "the session token (AWS_SESSION_TOKEN) is invalid",
    "ExpiredToken": "the session token (AWS_SESSION_TOKEN) has expired",
    "InvalidClientTokenId": "the access key id (AWS_ACCESS_KEY_ID) is unknown to it",
}
MISSING_CODES = {"NoSuchBucket", "404", "NotFound"}
DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}


@dataclass(frozen=True)
class S3Target:
    """The resolved S3 locations of one project (no credentials in here, ever)."""

    endpoint: str | None  # None: AWS's own endpoint
    endpoint_source: str  # where `endpoint` came from, for messages
    dvc_url: str  # s3://bucket/prefix of the DVC remote
    mlflow_artifacts_uri: str  # s3://bucket/prefix of MLflow's artifact store

    @property
    def buckets(self) -> list[str]:
        """Every bucket the project writes to, in a stable order, without repeats."""
        found = [split_s3_uri(self.dvc_url)[0], split_s3_uri(self.mlflow_artifacts_uri)[0]]
        return list(dict.fromkeys(found))

    @property
    def where(self) -> str:
        """The endpoint for messages: its URL and where the URL came from."""
        if self.endpoint is None:
            return "AWS S3 (no storage.s3_endpoint or AWS_ENDPOINT_URL set)"
        return f"{self.endpoint} (from {self.endpoint_source})"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> ("bucket", "a/b"); ValueError naming the URI otherwise."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise ValueError(f"not an s3://bucket/prefix URI: {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix.strip("/")


def resolve_endpoint(cfg: StorageConfig, environ: Mapping[str, str] | None = None):
    """(endpoint URL or None, where it came from): params first, then the standard variables."""
    environ = os.environ if environ is None else environ
    if cfg.s3_endpoint:
        return cfg.s3_endpoint.rstrip("/"), "storage.s3_endpoint"
    for var in ENDPOINT_VARS:
        if environ.get(var):
            return environ[var].rstrip("/"), var
    return None, "AWS"


def resolve(cfg: StorageConfig, environ: Mapping[str, str] | None = None) -> S3Target:
    """The S3 target of `params.storage` (backend must be s3)."""
    if cfg.backend != "s3" or not cfg.s3_bucket:
        raise ValueError("storage.backend is not 's3'")
    endpoint, source = resolve_endpoint(cfg, environ)
    prefix = cfg.s3_dvc_prefix.strip("/")
    return S3Target(
        endpoint=endpoint,
        endpoint_source=source,
        dvc_url=f"s3://{cfg.s3_bucket}/{prefix}",
        mlflow_artifacts_uri=(cfg.mlflow_artifacts_uri or f"s3://{cfg.s3_bucket}/mlflow").rstrip(
            "/"
        ),
    )


def mlflow_artifact_location(cfg: StorageConfig, experiment: str) -> str | None:
    """Artifact location for a new MLflow experiment: under the S3 artifact root, or None.

    None means "MLflow's default" (local backend, or a tracking server that proxies
    artifacts to its own --artifacts-destination).
    """
    if cfg.backend != "s3":
        return None
    return f"{resolve(cfg).mlflow_artifacts_uri}/{experiment}"


def make_client(target: S3Target):
    """A boto3 S3 client for `target` with short timeouts; credentials from the environment."""
    return boto3.session.Session().client("s3", endpoint_url=target.endpoint, config=CLIENT_CONFIG)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def explain(exc: Exception, target: S3Target, bucket: str | None = None) -> str | None:
    """One line saying what is wrong and what to do, for an expected S3 failure; else None."""
    where = target.where
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
        )
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError | ReadTimeoutError,
    ):
        return (
            f"S3 endpoint {where} is down or unreachable; start the S3 server "
            "(infra/local/start.sh) or fix storage.s3_endpoint / AWS_ENDPOINT_URL"
        )
    if isinstance(exc, ValueError) and "endpoint" in str(exc).lower():
        return f"S3 endpoint {where} is not a valid URL"
    if not isinstance(exc, ClientError):
        return None
    code = error_code(exc)
    if code in CREDENTIAL_CODES:
        return f"S3 credentials rejected by {where}: {CREDENTIAL_CODES[code]}"
    if code in MISSING_CODES and bucket:
        return (
            f"bucket {bucket!r} does not exist at {where}; create it with "
            "`genforge storage check --create-buckets` or change storage.s3_bucket"
        )
    if code in DENIED_CODES and bucket:
        return (
            f"access to bucket {bucket!r} denied by {where}: the credentials "
            "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) are wrong or lack permission"
        )
    message = exc.response.get("Error", {}).get("Message", "")
    return f"S3 request to {where} failed: {code or 'error'} {message}".rstrip()


def is_expected(exc: Exception) -> bool:
    """True for failures `explain` describes (the rest are bugs and keep their trace)."""
    return isinstance(exc, ClientError | BotoCoreError) or (
        isinstance(exc, ValueError) and "endpoint" in str(exc).lower()
    )


@contextmanager
def s3_errors(target: S3Target, bucket: str | None = None) -> Iterator[None]:
    """Turn an expected S3 failure inside the block into a one-line GenforgeError."""
    try:
        yield
    except GenforgeError:
        raise
    except Exception as exc:
        if not is_expected(exc):
            raise
        raise GenforgeError(explain(exc, target, bucket)) from None
