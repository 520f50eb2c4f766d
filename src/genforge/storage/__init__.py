"""S3 object storage for the DVC remote and MLflow artifacts (boto3; credentials from env).

- `s3.py`: resolve `params.storage` + AWS_* variables into an `S3Target`, a boto3
  client, and one-line explanations of expected S3 failures.
- `check.py`: `genforge storage check [--create-buckets]`.
- `dvc_remote.py`: `genforge storage dvc-remote` (the default DVC remote from params).
- `transfer.py`: `genforge storage push|pull` (DVC, stopped fast with a diagnosis when
  the endpoint goes away).
"""
