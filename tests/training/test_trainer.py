"""The trainer over every registered family: determinism, resume, NaN stops, outputs."""

from __future__ import annotations

import json

import pytest
import torch
from tests.conftest import tiny_params

from genforge.models import REGISTRY
from genforge.training.checkpoint import load_checkpoint, load_model, load_snapshots
from genforge.training.run import train_family
from genforge.training.trainer import TrainingDiverged

FAMILIES = sorted(REGISTRY)


class StopAt:
    """Simulates a crash: raises after `step` updates (after any checkpoint at that step)."""

    def __init__(self, step: int):
        self.step = step

    def on_step(self, step, record):
        if step == self.step:
            raise KeyboardInterrupt(f"killed at step {step}")


def weights(path):
    state = load_checkpoint(path)
    return state["model"], state["ema"], state["step"]


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("family", FAMILIES)
def test_resume_after_a_crash_equals_uninterrupted(family, prepared_dir, tmp_path):
    params = tiny_params([family])
    whole = tmp_path / "whole"
    train_family(params, family, prepared_dir, whole, progress=False)

    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        # checkpoint_every=3: the crash at step 5 loses steps 4-5
        train_family(params, family, prepared_dir, crashed, callbacks=[StopAt(5)], progress=False)
    assert load_checkpoint(crashed / "checkpoint.pt")["step"] == 3
    summary = train_family(params, family, prepared_dir, crashed, progress=False)
    assert summary["resumed_from"] == 3

    m1, e1, s1 = weights(whole / "checkpoint.pt")
    m2, e2, s2 = weights(crashed / "checkpoint.pt")
    assert s1 == s2 == params.models.family(family).steps
    assert_same(m1, m2)
    assert_same(e1, e2)
    log = [json.loads(ln) for ln in (crashed / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, s1 + 1))


def test_cosine_lr_schedule_resumes_exactly_and_ends_at_zero(prepared_dir, tmp_path):
    """gan (two optimizers): the schedules' state travels in the checkpoint."""
    from tests.conftest import tiny_family

    params = tiny_params(["gan"], models={"gan": tiny_family("gan", lr_schedule="cosine")})
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    train_family(params, "gan", prepared_dir, whole, progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_family(params, "gan", prepared_dir, crashed, callbacks=[StopAt(5)], progress=False)
    train_family(params, "gan", prepared_dir, crashed, progress=False)

    a, b = load_checkpoint(whole / "checkpoint.pt"), load_checkpoint(crashed / "checkpoint.pt")
    assert_same(a["model"], b["model"])
    assert a["schedulers"] == b["schedulers"] and len(a["schedulers"]) == 2
    assert all(s["_last_lr"] == [0.0] for s in a["schedulers"])  # cosine to 0 at `steps`


@pytest.mark.parametrize("family", FAMILIES)
def test_outputs_and_checkpoint_round_trip(family, prepared_dir, tmp_path):
    params = tiny_params([family])
    out = tmp_path / family
    summary = train_family(params, family, prepared_dir, out, progress=False)
    assert {p.name for p in out.iterdir()} == {
        "checkpoint.pt",
        "train_log.jsonl",
        "samples.png",
        "train_summary.json",
        "snapshots",
    }
    # EMA weights at every train.sample_every step and at the end (the FID-vs-step curve)
    snapshots = list(load_snapshots(out))
    assert snapshots and snapshots[-1][0] == params.models.family(family).steps
    assert summary["params"] >= summary["generator_params"] > 0
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["family"] == family and state["format_version"] == 1
    assert {"model", "ema", "optimizers", "rng", "model_args", "step"} <= state.keys()
    # The checkpoint alone rebuilds the model (no params file), with the EMA weights.
    model = load_model(out / "checkpoint.pt")
    g = torch.Generator().manual_seed(3)
    images = model.sample(4, generator=g)
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 8, 8)


def test_changed_params_do_not_resume_a_stale_checkpoint(prepared_dir, tmp_path):
    family = FAMILIES[0]
    train_family(tiny_params([family]), family, prepared_dir, tmp_path, progress=False)
    changed = tiny_params([family], train={"seed": 7})
    summary = train_family(changed, family, prepared_dir, tmp_path, progress=False)
    assert summary["resumed_from"] == 0


def test_nan_loss_stops_with_family_and_step_and_keeps_last_checkpoint(
    prepared_dir, tmp_path, monkeypatch
):
    family = FAMILIES[0]
    cls = REGISTRY[family]
    real_step, calls = cls.training_step, {"n": 0}

    def poisoned(self, x, y, opt):
        calls["n"] += 1
        losses = real_step(self, x, y, opt)
        return {k: float("nan") for k in losses} if calls["n"] == 5 else losses

    monkeypatch.setattr(cls, "training_step", poisoned)
    with pytest.raises(TrainingDiverged, match=rf"{family}: loss .*=nan at step 5; the last good"):
        train_family(tiny_params([family]), family, prepared_dir, tmp_path, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 3
    assert not list(tmp_path.glob(".*tmp*"))


def test_callbacks_get_steps_samples_and_the_summary(prepared_dir, tmp_path):
    family = FAMILIES[0]
    seen = {"steps": [], "samples": [], "models": [], "end": None}

    class Recorder:
        def on_step(self, step, record):
            seen["steps"].append(step)

        def on_samples(self, step, images):
            seen["samples"].append((step, images.dtype, images.shape[0]))

        def on_model(self, step, model):
            seen["models"].append((step, model.family))

        def on_end(self, summary):
            seen["end"] = summary

    params = tiny_params([family], train={"sample_every": 2})
    train_family(params, family, prepared_dir, tmp_path, callbacks=[Recorder()], progress=False)
    assert seen["steps"] == list(range(1, 7))
    assert [s[0] for s in seen["samples"]] == [2, 4]
    assert all(s[1] == torch.uint8 and s[2] > 0 for s in seen["samples"])
    assert seen["models"] == [(2, family), (4, family), (6, family)]
    assert seen["end"]["steps"] == 6 and seen["end"]["family"] == family


def test_ema_forgets_the_random_initialisation_in_short_runs():
    """After 1,000 updates towards a constant, the EMA must be close to it (warm-up)."""
    from torch.optim.swa_utils import AveragedModel

    from genforge.training.trainer import ema_with_warmup

    net = torch.nn.Linear(4, 4)
    ema = AveragedModel(net, multi_avg_fn=ema_with_warmup(0.999), use_buffers=True)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)
    for _ in range(1000):
        ema.update_parameters(net)
    worst = max((p - 1).abs().max().item() for p in ema.module.parameters())
    assert worst < 0.05  # a fixed 0.999 decay would leave ~37 % of the init here


def test_changed_code_does_not_resume_a_finished_checkpoint(prepared_dir, tmp_path, monkeypatch):
    from genforge.training import run

    family = FAMILIES[0]
    train_family(tiny_params([family]), family, prepared_dir, tmp_path, progress=False)
    monkeypatch.setattr(run, "code_hash", lambda family: "other code")
    summary = train_family(tiny_params([family]), family, prepared_dir, tmp_path, progress=False)
    assert summary["resumed_from"] == 0


def test_compile_trains_a_family_whose_r1_penalty_differentiates_d_twice(tmp_path):
    """`train.compile` on stylegan (R1 on the first step, augmentation always on): D and the
    augmentation before it stay eager, since torch.compile's AOT autograd has no double
    backward ("does not currently support double backward" when they were compiled)."""
    from genforge.config import TrainConfig
    from genforge.models import build, config_class
    from genforge.training.trainer import Trainer

    cfg = config_class("stylegan")(batch_size=4, base_channels=8, z_dim=8, w_dim=16, augment_p=1.0)
    torch.manual_seed(0)
    model = build("stylegan", cfg, (1, 8, 8), 2)
    assert model.compilable_children() == [model.mapping, model.synthesis]
    train = TrainConfig(device="cpu", compile=True, checkpoint_every=2, sample_every=10**6)
    meta = {"family": "stylegan", "model_args": {}, "fingerprint": "compile"}
    trainer = Trainer(model, train, 2, cfg.batch_size, tmp_path, meta, progress=False)
    x = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8)
    assert trainer.fit(x, torch.arange(16) % 2)["steps"] == 2
