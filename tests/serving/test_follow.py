"""`genforge serve` against a real registry: what /health reports, /invocations side by
side with `mlflow models serve`, and following promotions and rollbacks."""

from __future__ import annotations

import hashlib

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_health_reports_the_champion_it_serves(stack):
    status, health, _ = stack.get("/health")
    assert status == 200, health
    served = health["served"]
    digest = hashlib.sha256((stack.root / "models/vae/checkpoint.pt").read_bytes()).hexdigest()
    assert served["version"] == "1" and served["family"] == "vae"
    assert served["checkpoint_sha256"] == digest
    assert served["data_hash"] and served["loaded_at"] and served["metrics"]["fid"] == 5.0
    assert health["champion"] == "1" and health["failed_newer_champion"] is None
