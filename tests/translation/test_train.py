"""Training: seeded, logged per step, a checkpoint that reloads with weights_only=True."""

from __future__ import annotations

import json

import pytest
import torch

from genforge.translation.train import (
    CycleGanCheckpointError,
    load_cyclegan,
    nchw,
    train_cyclegan,
)


def test_checkpoint_reloads_with_weights_only_and_reproduces_translations(
    tmp_path, tiny_domains, tiny_cfg
):
    cfg = tiny_cfg(steps=4)
    summary = train_cyclegan(cfg, tiny_domains, tmp_path / "run")
    assert summary["steps"] == 4
    raw = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert raw["step"] == 4 and raw["model_args"]["image_shape"] == [1, 8, 8]
    model, state = load_cyclegan(tmp_path / "run" / "checkpoint.pt")
    assert state["config"] == cfg.model_dump(mode="json")
    a = nchw(tiny_domains, "A", "test")[:16]
    again = train_cyclegan(cfg, tiny_domains, tmp_path / "again")  # same seed, same weights
    assert again["last_loss_g"] == summary["last_loss_g"]
    twin, _ = load_cyclegan(tmp_path / "again" / "checkpoint.pt")
    assert torch.equal(model.translate(a, "a2b"), twin.translate(a, "a2b"))
    other = train_cyclegan(tiny_cfg(steps=4, seed=1), tiny_domains, tmp_path / "other")
    assert other["last_loss_g"] != summary["last_loss_g"]
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]  # no temp files


def test_log_has_one_record_per_step_with_the_linear_decay(tmp_path, tiny_domains, tiny_cfg):
    train_cyclegan(tiny_cfg(steps=8), tiny_domains, tmp_path)
    recs = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == list(range(1, 9))
    lrs = [r["lr"] for r in recs]
    assert lrs[:4] == [2e-4] * 4  # the first half at the paper's 2e-4
    assert lrs[4:] == pytest.approx([2e-4, 1.5e-4, 1e-4, 5e-5])  # then linearly towards 0
    assert {"loss_cycle", "loss_identity", "loss_adv", "loss_d_a", "loss_d_b"} <= set(recs[0])


def test_cycle_loss_decreases_on_a_tiny_run(tmp_path, tiny_domains, tiny_cfg):
    train_cyclegan(tiny_cfg(steps=80, lr=2e-3), tiny_domains, tmp_path)
    cycle = [json.loads(r)["loss_cycle"] for r in (tmp_path / "train_log.jsonl").open()]
    first, last = sum(cycle[:10]) / 10, sum(cycle[-10:]) / 10
    assert last < 0.6 * first, (first, last)


def test_bad_checkpoints_are_refused_by_name(tmp_path):
    with pytest.raises(CycleGanCheckpointError, match="no checkpoint here"):
        load_cyclegan(tmp_path / "none.pt")
    (tmp_path / "torn.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(CycleGanCheckpointError, match=r"torn\.pt: cannot read checkpoint"):
        load_cyclegan(tmp_path / "torn.pt")
    torch.save({"format_version": 99}, tmp_path / "other.pt")
    with pytest.raises(CycleGanCheckpointError, match=r"other\.pt: not a cyclegan checkpoint"):
        load_cyclegan(tmp_path / "other.pt")


def test_discriminators_are_conditional_on_labelled_domains_unless_turned_off(
    tmp_path, tiny_domains, tiny_cfg
):
    from genforge.errors import GenforgeError
    from genforge.translation.domains import load_domain_folder
    from genforge.translation.train import discriminator_classes
    from tests.translation.conftest import make_layout

    summary = train_cyclegan(tiny_cfg(steps=2), tiny_domains, tmp_path / "on")
    assert summary["discriminator_classes"] == 10  # the digits' classes, by default
    model, _ = load_cyclegan(tmp_path / "on" / "checkpoint.pt")  # rebuilt conditional
    assert model.d_a.classes == 10 and model.args["d_classes"] == 10
    off = train_cyclegan(tiny_cfg(steps=2, conditional_d=False), tiny_domains, tmp_path / "off")
    assert off["discriminator_classes"] == 0  # the paper's objective

    flat = load_domain_folder(make_layout(tmp_path / "flat", None), channels=1, image_size=8)
    assert discriminator_classes(tiny_cfg(), flat) == 0  # unlabelled: unconditional
    with pytest.raises(GenforgeError, match="conditional_d needs two labelled domains"):
        discriminator_classes(tiny_cfg(conditional_d=True), flat)
