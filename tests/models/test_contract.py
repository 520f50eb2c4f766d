"""One contract every registered family must meet (tiny configs, CPU)."""

from __future__ import annotations

import math

import pytest
import torch
from tests.conftest import tiny_family

from genforge.config import ModelsConfig
from genforge.models import REGISTRY, Optimizers, build

FAMILIES = sorted(REGISTRY)
SHAPE = (1, 8, 8)


def make(family: str, conditional: bool = False, seed: int = 0, **overrides):
    cfg_cls = type(ModelsConfig().family(family))
    cfg = cfg_cls.model_validate(tiny_family(family, conditional=conditional, **overrides))
    torch.manual_seed(seed)
    return build(family, cfg, SHAPE, num_classes=2)


def two_class_batch(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 all dark, class 1 all bright: trivially separable, in [-1, 1]."""
    y = torch.arange(n) % 2
    x = torch.where(y[:, None, None, None] == 1, 0.8, -0.8).expand(n, *SHAPE).clone()
    return x + 0.05 * torch.randn_like(x), y


def train(model, steps: int) -> list[dict[str, float]]:
    opt = Optimizers(model.configure_optimizers(), grad_clip=1.0)
    return [model.training_step(*two_class_batch(), opt) for _ in range(steps)]


@pytest.mark.parametrize("family", FAMILIES)
def test_samples_are_uint8_of_the_right_shape_and_seeded(family):
    model = make(family)
    a = model.sample(5, generator=torch.Generator().manual_seed(1))
    b = model.sample(5, generator=torch.Generator().manual_seed(1))
    c = model.sample(5, generator=torch.Generator().manual_seed(2))
    assert a.dtype == torch.uint8 and a.shape == (5, *SHAPE) and a.device.type == "cpu"
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert model.training, "sampling must restore train mode"


@pytest.mark.parametrize("family", FAMILIES)
def test_losses_are_finite_floats(family):
    for losses in train(make(family), 3):
        assert losses and all(isinstance(v, float) and math.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("family", FAMILIES)
def test_state_dict_round_trip_gives_identical_samples(family):
    model = make(family)
    train(model, 2)
    fresh = make(family, seed=99)
    fresh.load_state_dict(model.state_dict())
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    assert torch.equal(model.sample(4, generator=g()), fresh.sample(4, generator=g()))


@pytest.mark.parametrize("family", FAMILIES)
def test_labels_out_of_range_are_refused(family):
    model = make(family, conditional=True)
    with pytest.raises(ValueError, match="labels"):
        model.sample(2, labels=torch.tensor([0, 2]))


@pytest.mark.parametrize("family", FAMILIES)
def test_bits_per_dim_where_there_is_a_likelihood(family):
    model = make(family)
    bpd = model.bits_per_dim(*two_class_batch())
    if family in ("vae", "pixelcnn"):
        assert bpd is not None and math.isfinite(bpd) and bpd > 0
    else:
        assert bpd is None


TINY_CONDITIONAL_XFAIL = pytest.mark.xfail(
    reason="the tiny 8x8 diffusion U-Net does not learn this toy in 300 steps (means stay "
    "mid-grey); conditioning on digits is verified on the default config's grid",
    strict=False,
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "family",
    [pytest.param(f, marks=TINY_CONDITIONAL_XFAIL) if f == "diffusion" else f for f in FAMILIES],
)
def test_conditional_samples_honour_their_labels(family):
    model = make(family, conditional=True, lr=2e-3)
    train(model, 300)
    g = torch.Generator().manual_seed(0)
    dark = model.sample(16, labels=torch.zeros(16, dtype=torch.long), generator=g).float().mean()
    bright = model.sample(16, labels=torch.ones(16, dtype=torch.long), generator=g).float().mean()
    assert bright > dark + 40, f"{family}: label 1 mean {bright:.0f} vs label 0 mean {dark:.0f}"
