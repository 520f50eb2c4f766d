"""The lazy R1 penalty (Mescheder et al. 2018) of the gan and vaegan families' D, its
checkpoint state, and the minibatch std's halves."""

from __future__ import annotations

import pytest
import torch

import genforge.models.common as common
from genforge.models import Optimizers, build
from genforge.models.gan import GanConfig
from genforge.models.vaegan import VaeGanConfig

# family -> (config class, its extra fields); both step D through common.LazyR1
FAMILIES = {"gan": (GanConfig, {"d_steps": 2}), "vaegan": (VaeGanConfig, {})}


def make(family: str = "gan", **cfg):
    config, extra = FAMILIES[family]
    base = {"z_dim": 8, "base_channels": 8, "conditional": True, "augment": [], **extra}
    base["minibatch_std"] = True
    return build(family, config(**{**base, **cfg}), (1, 16, 16), 2)


def train(model, steps: int) -> None:
    opt = Optimizers(model.configure_optimizers())
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.rand(4, 1, 16, 16, generator=g) * 2 - 1
        losses = model.training_step(x, torch.tensor([0, 1, 0, 1]), opt)
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses


@pytest.mark.parametrize("family", FAMILIES)
def test_r1_runs_every_n_d_updates_and_the_schedule_survives_a_checkpoint(family, monkeypatch):
    per_step = FAMILIES[family][1].get("d_steps", 1)  # D updates per training step
    calls = []
    real_penalty = common.r1_penalty

    def spy(real_logit, real):
        calls.append(int(model.d_updates))
        assert real.requires_grad and real_logit.shape == (4,)
        return real_penalty(real_logit, real)

    def every_third(first: int, last: int) -> list[int]:
        return [i for i in range(first, last) if i % 3 == 0]

    monkeypatch.setattr(common, "r1_penalty", spy)
    model = make(family, r1_gamma=1.0, r1_every=3)
    train(model, 4)
    assert calls == every_third(0, 4 * per_step)
    fresh = make(family, r1_gamma=1.0, r1_every=3)
    fresh.load_state_dict(model.state_dict())
    calls.clear()
    model = fresh
    train(fresh, 3)  # the count goes on from the checkpoint's
    assert calls == every_third(4 * per_step, 7 * per_step) != []
    calls.clear()
    model = make(family, r1_gamma=0.0)
    train(model, 4)
    assert calls == []


@pytest.mark.parametrize("family", FAMILIES)
def test_a_checkpoint_from_before_r1_loads(family):
    model = make(family, minibatch_std=False)
    old = {k: v for k, v in model.state_dict().items() if k != "d_updates"}
    fresh = make(family, minibatch_std=False)
    fresh.load_state_dict(old)  # strict for every other key
    assert int(fresh.d_updates) == 0


def test_minibatch_std_never_mixes_reals_and_fakes_judged_in_one_pass():
    """The D update scores reals and fakes in one batch (chunks=2): each half's logits
    equal those of a pass over that half alone, so D cannot tell which half is which
    from the batch statistic."""
    from genforge.models.nets import Discriminator

    torch.manual_seed(0)
    d = Discriminator(3, (16, 16), 8, num_classes=0, minibatch_std=True).eval()
    real, fake = torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16) * 0.1
    both, _ = d(torch.cat([real, fake]), None, 2)
    alone = torch.cat([d(real)[0], d(fake)[0]])
    assert torch.allclose(both, alone, atol=1e-5)
    # without chunks, a group of 4 holding 2 reals and 2 fakes sees their joint spread
    mixed = d(torch.cat([real[:2], fake[:2]]))[0]
    assert not torch.allclose(mixed, torch.cat([d(real[:2])[0], d(fake[:2])[0]]))
