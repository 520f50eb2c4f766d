"""What a crash, a full disk or a diverged update leaves behind must never break a rerun."""

from __future__ import annotations

import json

import pytest
from tests.conftest import tiny_params
from tests.training.test_trainer import StopAt

from genforge.training.checkpoint import load_checkpoint
from genforge.training.run import train_family

FAMILY = "vae"  # the cheapest family; the trainer code under test is shared by all


def test_a_torn_last_log_line_is_dropped_on_resume(prepared_dir, tmp_path):
    """Power loss or a full disk mid-write leaves half a JSON line at the end of the log."""
    params = tiny_params([FAMILY])
    with pytest.raises(KeyboardInterrupt):
        train_family(params, FAMILY, prepared_dir, tmp_path, callbacks=[StopAt(5)], progress=False)
    log = tmp_path / "train_log.jsonl"
    with log.open("a") as f:
        f.write('{"step": 6, "loss": 0.4')  # torn: no closing brace, no newline
    summary = train_family(params, FAMILY, prepared_dir, tmp_path, progress=False)
    assert summary["resumed_from"] == 3
    records = [json.loads(ln) for ln in log.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 7))
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 6
