"""Two promotions at once, in two processes (two retrain runs, or `register` beside
`promote`), both re-scoring the same champion. Before: both compared with it and the
last to move won, having never been compared with the other. Now: one moves at a time
(the promotion lock) and the second judges again against the first one's champion."""

from __future__ import annotations

import subprocess
import sys

import pytest

from genforge.registry.promote import connect
from genforge.registry.versions import CHAMPION, PREVIOUS
from tests.faults.conftest import assert_invariant
from tests.tracking.helpers import project, write_metrics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROMOTE = """
import sys, time
from pathlib import Path
from tests.faults.conftest import params_for, stored
from genforge.registry.promote import register_and_promote

barrier = Path(sys.argv[3])
first = []

def slow(mv):  # re-scoring takes a while: both processes re-score the same champion
    if not first:
        first.append(mv.version)
        (barrier / sys.argv[2]).touch()
        deadline = time.monotonic() + 120
        while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    return stored(mv)

register_and_promote(params_for("faults"), [sys.argv[2]], Path(sys.argv[1]), rescore=slow)
"""


def test_two_promotions_at_once_move_the_champion_one_at_a_time(
    mlflow, champion_v1, checkpoints, tmp_path
):
    root, params = champion_v1
    other = project(tmp_path / "other", *checkpoints)
    write_metrics(root, "gan", fid=4.0)  # beats v1 (5.0)
    write_metrics(other, "vae", fid=3.0)  # beats both
    barrier = tmp_path / "barrier"  # both are inside their re-score before either moves
    barrier.mkdir()
    procs = [
        subprocess.Popen([sys.executable, "-c", PROMOTE, str(where), family, str(barrier)])
        for where, family in ((root, "gan"), (other, "vae"))
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]

    _, reg = connect(params, root)
    champion = reg.alias(CHAMPION)
    assert champion.tags["family"] == "vae" and champion.version != "1"  # the best one
    assert reg.alias(PREVIOUS) is not None
    assert_invariant(params, root)  # compared with the version it replaced
