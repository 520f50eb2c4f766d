"""A tracking URI carries credentials (http://user:password@host, postgresql://user:pw@db):
genforge's errors must name the store without printing the password."""

from __future__ import annotations

import socket

import pytest

from genforge.tracking import lineage
from genforge.tracking.runs import TrackingError, open_tracker
from tests.conftest import tiny_params


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_store_is_named_without_its_password(prepared_dir, monkeypatch):
    uri = f"http://alice:s3cret-pw@127.0.0.1:{closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once, not in minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with pytest.raises(TrackingError) as info:
        open_tracker(tiny_params(["vae"]), prepared_dir)
    message = str(info.value)
    assert "s3cret-pw" not in message
    assert "cannot use the MLflow tracking store http://alice:***@127.0.0.1:" in message


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://u:p@h:5000/x", "http://u:***@h:5000/x"),
        ("postgresql://mlflow:pw%40x@db:5432/mlflow", "postgresql://mlflow:***@db:5432/mlflow"),
        ("https://token@h", "https://***@h"),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_redact_hides_passwords_and_tokens_only(uri, shown):
    assert lineage.redact(f"store {uri} failed") == f"store {shown} failed"
