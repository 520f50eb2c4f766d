"""`genforge storage check [--create-buckets]`: is the S3 store usable, and if not, why.

Checks, in order, and stops at the first problem with one line naming it:
the endpoint answers, it accepts the credentials, every bucket the project writes to
(DVC remote, MLflow artifacts) exists — created when asked — and is writable (a
probe object is written and deleted).
"""

from __future__ import annotations

from collections.abc import Mapping

from botocore.exceptions import ClientError

from genforge.config import StorageConfig
from genforge.storage.s3 import S3Target, error_code, make_client, resolve, s3_errors

PROBE_KEY = ".genforge-storage-check"
MISSING = ("404", "NoSuchBucket", "NotFound")


def check_credentials(client, target: S3Target) -> None:
    """ListBuckets: the cheapest call that proves the endpoint is up and the keys are valid.

    A valid identity that may not list buckets (common with narrow IAM policies) gets
    AccessDenied: that is fine here, the per-bucket checks decide.
    """
    with s3_errors(target):
        try:
            client.list_buckets()
        except ClientError as exc:
            if error_code(exc) != "AccessDenied":
                raise


def create_bucket(client, target: S3Target, bucket: str) -> None:
    """CreateBucket, with the location constraint AWS wants outside us-east-1."""
    region = client.meta.region_name
    kwargs = {}
    if region and region not in ("us-east-1", "aws-global"):
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with s3_errors(target, bucket):
        client.create_bucket(Bucket=bucket, **kwargs)


def check_bucket(client, target: S3Target, bucket: str, create: bool) -> str:
    """Ensure `bucket` exists (creating it when `create`) and is writable; return a status."""
    status = "exists"
    with s3_errors(target, bucket):
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if not (create and error_code(exc) in MISSING):
                raise
            create_bucket(client, target, bucket)
            status = "created"
        client.put_object(Bucket=bucket, Key=PROBE_KEY, Body=b"ok\n")
        client.delete_object(Bucket=bucket, Key=PROBE_KEY)
    return f"{status}, writable"


def check_storage(
    cfg: StorageConfig, create_buckets: bool = False, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Verify the configured store; return report lines, or raise GenforgeError (one line).

    Args:
        cfg: `params.storage`.
        create_buckets: create missing buckets instead of reporting them.
        environ: the environment to resolve the endpoint from (default: os.environ).
    """
    if cfg.backend != "s3":
        return [
            f"storage.backend is 'local': the DVC remote is the directory {cfg.dvc_remote!r} "
            "and MLflow keeps artifacts locally; nothing to check on S3"
        ]
    target = resolve(cfg, environ)
    with s3_errors(target):
        client = make_client(target)
    check_credentials(client, target)
    lines = [f"S3 endpoint {target.where}: reachable, credentials accepted"]
    for bucket in target.buckets:
        lines.append(f"bucket {bucket}: {check_bucket(client, target, bucket, create_buckets)}")
    lines.append(f"DVC remote: {target.dvc_url}")
    lines.append(f"MLflow artifacts: {target.mlflow_artifacts_uri}")
    return lines
