"""Promotions one at a time (issue 18 item 4), against a real `mlflow server`: a gate
whose champion moved while it was re-scored judges again against the new one; the
alias writes wait for the promotion lock, and a lock whose holder died is removed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from genforge.registry.promote import connect, register_and_promote
from genforge.registry.versions import CHAMPION, PREVIOUS
from tests.registry.test_rescore_fails_closed import FAMILIES, checkpoints, params_for  # noqa: F401
from tests.tracking.helpers import mlflow_server, project, write_metrics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture
def case(server, checkpoints, tmp_path, monkeypatch, request):  # noqa: F811
    from genforge.tracking.lineage import PARENT_ENV

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.delenv(PARENT_ENV, raising=False)
    prepared, ckpts = checkpoints
    params = params_for(request.node.name[5:40].replace("_", "-"))
    roots = [project(tmp_path / name, prepared, ckpts) for name in ("a", "b")]
    write_metrics(roots[0], "vae", fid=5.0)
    register_and_promote(params, ["vae"], roots[0], rescore=None)  # C0 = vae v1
    return roots, params


def test_a_champion_moved_during_rescoring_is_rescored_and_compared_again(case):
    """A re-scores C0 while B promotes V2 (better than A's candidate): before, A then
    promoted its candidate over V2 without ever comparing them."""
    (a, b), params = case
    write_metrics(b, "vae", fid=4.0)  # B's candidate: beats C0 (5.0)
    write_metrics(a, "gan", fid=4.5)  # A's: beats C0 by 10 %, loses to B's 4.0
    calls = []

    def rescore_a(mv):
        calls.append(mv.version)
        if len(calls) == 1:  # B's whole promotion runs while A re-scores C0
            register_and_promote(params, ["vae"], b, rescore=rescore_b)
        return rescore_b(mv)

    def rescore_b(mv):  # today's numbers are the stored ones
        return {"fid": json.loads(mv.tags["metrics"])["fid"], "recall": 0.6, "coverage": 0.7}

    report = register_and_promote(params, ["gan"], a, rescore=rescore_a)
    _, reg = connect(params, a)
    v2 = reg.latest("vae").version  # B's
    assert calls == ["1", v2]  # re-scored again: the champion it compares with is B's
    assert reg.alias(CHAMPION).version == v2 and reg.alias(PREVIOUS).version == "1"
    gan = reg.latest("gan")
    assert gan.tags["gate.passed"] == "false" and gan.tags["gate.champion_version"] == v2
    assert report["promoted"] is None and report["champion"]["version"] == v2


SCORE = {"fid": 5.0, "recall": 0.6, "coverage": 0.7}  # the champion re-scored
HOLD = """
import sys, time, mlflow
client = mlflow.MlflowClient(sys.argv[1])
tags = {"token": "t", "owner": "test", "host": sys.argv[3], "pid": sys.argv[4],
        "expires": str(time.time() + float(sys.argv[5]))}
client.create_registered_model(sys.argv[2], tags=tags)
"""


def hold_lock(server, name, host="elsewhere", pid="1", lease=300.0):
    """Another promotion holding the lock (a separate process writes it)."""
    from genforge.registry.lock import LOCK_SUFFIX

    args = [server, f"{name}{LOCK_SUFFIX}", host, pid, str(lease)]
    subprocess.run([sys.executable, "-c", HOLD, *args], check=True, timeout=120)


def test_alias_writes_wait_for_the_promotion_lock_and_say_who_holds_it(case, server):
    from genforge.registry.lock import LockError

    (a, _), params = case
    write_metrics(a, "gan", fid=3.0)
    _, reg = connect(params, a)
    hold_lock(server, reg.name)
    reg.lock_wait_s = 1.0
    tr, _ = connect(params, a)
    from genforge.registry.promote import judge_candidates, register_family

    gan = register_family(tr, reg, "gan", a)
    with pytest.raises(LockError, match=r"another promotion \(test\) holds .*promotion-lock"):
        judge_candidates(tr, reg, {"gan": reg.get(gan.version)}, lambda mv: SCORE)
    assert reg.alias(CHAMPION).version == "1"  # nothing moved, no verdict written
    assert "gate.passed" not in reg.get(gan.version).tags


def test_a_lock_whose_holder_died_is_removed(case, server):
    import socket

    from genforge.registry.versions import MOVING

    (a, _), params = case
    _, reg = connect(params, a)

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True).stdout.strip()  # fmt: skip
    hold_lock(server, reg.name, socket.gethostname(), dead)  # killed inside its section
    write_metrics(a, "gan", fid=3.0)
    report = register_and_promote(params, ["gan"], a, rescore=lambda mv: SCORE)
    assert report["champion"]["family"] == "gan" and report["previous"]["version"] == "1"
    hold_lock(server, reg.name, lease=-1.0)  # another machine's, its lease is over
    with reg.locked():
        pass
    assert MOVING not in reg.client.get_registered_model(reg.name).tags
    assert json.loads((a / "gate/report.json").read_text())["promoted"]["family"] == "gan"
