"""The MLflow server stops while the gate re-scores the champion, then starts again:
the gate fails clearly, nothing is written (no verdict, no alias, no report of a
decision that was not taken), and a rerun judges and promotes."""

from __future__ import annotations

import pytest

from genforge.registry.promote import connect, register_and_promote
from genforge.registry.versions import CHAMPION, PASSED, PREVIOUS
from tests.faults.conftest import assert_invariant, stored
from tests.tracking.helpers import write_metrics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_server_stopped_during_the_gate_fails_clearly_and_a_rerun_completes(mlflow, champion_v1):
    root, params = champion_v1
    write_metrics(root, "gan", fid=3.0)
    before = (root / "gate/report.json").read_text()

    def rescore_then_stop(mv):
        score = stored(mv)
        mlflow.stop()  # gone while the champion was being re-scored
        return score

    with pytest.raises(Exception, match="127.0.0.1"):
        register_and_promote(params, ["gan"], root, rescore=rescore_then_stop)
    assert (root / "gate/report.json").read_text() == before  # no report of a non-decision
    mlflow.start()
    _, reg = connect(params, root)
    assert reg.alias(CHAMPION).version == "1" and reg.alias(PREVIOUS) is None
    gan = reg.latest("gan")
    assert PASSED not in gan.tags  # unjudged: the next run judges it

    report = register_and_promote(params, ["gan"], root, rescore=stored)
    assert report["champion"]["version"] == gan.version and report["previous"]["version"] == "1"
    assert_invariant(params, root)
