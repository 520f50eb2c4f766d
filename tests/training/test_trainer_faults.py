"""What a crash, a full disk or a diverged update leaves behind must never break a rerun."""

from __future__ import annotations

import json

import pytest
import torch
from tests.conftest import tiny_params
from tests.training.test_trainer import StopAt

from genforge.models import REGISTRY
from genforge.training.checkpoint import load_checkpoint
from genforge.training.run import train_family
from genforge.training.trainer import TrainingDiverged

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


def test_an_update_that_makes_weights_non_finite_is_never_checkpointed(
    prepared_dir, tmp_path, monkeypatch
):
    """An update can overflow the weights while the loss it reports (computed before the
    update) is finite. At a checkpoint step that used to be saved as "last good" (here the
    final step: the run even ended "successfully" with inf weights, and every rerun resumed
    from them)."""
    cls = REGISTRY[FAMILY]
    real_step, calls = cls.training_step, {"n": 0}

    def overflowing(self, x, y, opt):
        calls["n"] += 1
        losses = real_step(self, x, y, opt)  # finite: computed before the update
        if calls["n"] == 6:  # the update of the last step overflowed one tensor
            with torch.no_grad():
                next(self.parameters()).fill_(float("inf"))
        return losses

    monkeypatch.setattr(cls, "training_step", overflowing)
    params = tiny_params([FAMILY])  # 6 steps, checkpoint_every 3
    with pytest.raises(TrainingDiverged, match=rf"{FAMILY}: non-finite weights after step 6 "):
        train_family(params, FAMILY, prepared_dir, tmp_path, progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 3  # the last good one, untouched
    for weights in (state["model"], state["ema"]):
        assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())
    assert not list(tmp_path.glob("snapshots/step_0000006.pt"))
