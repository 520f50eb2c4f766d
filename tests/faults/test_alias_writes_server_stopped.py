"""The MLflow server stops between the two alias writes of a promotion. Before: the
champion was written first, so `previous` (the rollback target) was lost. Now: the
move is journalled on the registered model and `previous` goes first; the served
champion stays the old one until the move is finished, and the next registry
operation finishes it."""

from __future__ import annotations

import json

import mlflow as mlflow_lib
import pytest

from genforge.registry.promote import connect, register_and_promote
from genforge.registry.versions import CHAMPION, PREVIOUS
from tests.faults.conftest import assert_invariant, stored
from tests.tracking.helpers import write_metrics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_server_stopped_between_the_alias_writes_loses_nothing(mlflow, champion_v1, monkeypatch):
    root, params = champion_v1
    write_metrics(root, "gan", fid=3.0)  # beats the champion
    real = mlflow_lib.MlflowClient.set_registered_model_alias
    writes = []

    def then_stop(self, name, alias, version):
        if writes:  # the second alias write: the server is gone
            mlflow.stop()
        writes.append(alias)
        return real(self, name, alias, version)

    monkeypatch.setattr(mlflow_lib.MlflowClient, "set_registered_model_alias", then_stop)
    with pytest.raises(Exception, match="127.0.0.1"):
        register_and_promote(params, ["gan"], root, rescore=stored)
    monkeypatch.setattr(mlflow_lib.MlflowClient, "set_registered_model_alias", real)
    mlflow.start()

    _, reg = connect(params, root)
    assert reg.alias(CHAMPION).version == "1"  # still served: nothing half-moved to
    assert reg.alias(PREVIOUS).version == "1"  # the rollback target is kept
    gan = reg.latest("gan")
    assert reg.unfinished() == {CHAMPION: gan.version, PREVIOUS: "1"}

    report = register_and_promote(params, ["gan"], root, rescore=stored)  # the rerun
    assert reg.alias(CHAMPION).version == gan.version and reg.alias(PREVIOUS).version == "1"
    assert report["champion"]["family"] == "gan" and report["previous"]["version"] == "1"
    assert json.loads((root / "gate/report.json").read_text())["champion"]["family"] == "gan"
    assert_invariant(params, root)
