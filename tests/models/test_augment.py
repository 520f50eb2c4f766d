"""DiffAugment (Zhao et al. 2020): the transforms, and that the GAN families apply them
to every image their discriminator judges."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

from genforge.models import Optimizers, build
from genforge.models.augment import POLICIES, check_policy, cutout, diff_augment, translation
from genforge.models.gan import GanConfig
from genforge.models.vaegan import VaeGanConfig

FULL = list(POLICIES)


def images(n: int = 6, shape=(3, 16, 16), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g) * 1.6 - 0.8  # no exact zeros


def test_empty_policy_is_the_identity():
    x = images()
    assert diff_augment(x, []) is x


@pytest.mark.parametrize("name", POLICIES)
def test_each_transform_keeps_the_shape_varies_per_image_and_is_differentiable(name):
    torch.manual_seed(0)
    x = images(n=16).requires_grad_(True)
    out = diff_augment(x, [name])
    assert out.shape == x.shape
    # One random draw per image: the change differs between images of one batch.
    delta = (out - x).detach().flatten(1)
    assert not torch.allclose(delta[0], delta[1])
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.abs().sum() > 0, f"{name}: no gradient reaches the input (G would get none)"


def test_translation_shifts_by_at_most_an_eighth_and_pads_with_zero():
    torch.manual_seed(0)
    x = torch.ones(64, 1, 16, 16)
    out = translation(x)
    zero_rows = (out[:, 0] == 0).all(dim=2).sum(dim=1)  # (B,) fully padded rows
    zero_cols = (out[:, 0] == 0).all(dim=1).sum(dim=1)
    assert zero_rows.max() <= 2 and zero_cols.max() <= 2  # 16 / 8 = 2 pixels
    assert (zero_rows > 0).any() and (zero_cols > 0).any()
    assert set(out.unique().tolist()) <= {0.0, 1.0}  # a shift, no interpolation


def test_cutout_zeroes_at_most_a_quarter_of_each_image():
    torch.manual_seed(0)
    out = cutout(torch.ones(64, 3, 16, 16))
    zeros = (out == 0).all(dim=1).flatten(1).sum(dim=1)  # (B,) pixels cut in every channel
    assert zeros.max() == 64 and zeros.min() >= 16  # 8x8 square, clipped to >= 4x4 at a corner


def test_unknown_transforms_are_refused_by_name():
    with pytest.raises(ValueError, match="'rotate'.*allowed: color, translation, cutout"):
        check_policy(["rotate"])
    with pytest.raises(ValidationError, match="augment"):
        GanConfig(augment=["rotate"])
    with pytest.raises(ValidationError, match="augment"):
        VaeGanConfig(augment="color")  # a list, not a string


def record_discriminator_inputs(model) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    model.discriminator.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    return seen


def cut_out(batch: torch.Tensor) -> torch.Tensor:
    """Per image: does it have a cutout square (>= 4x4 pixels zero in every channel)?"""
    return (batch == 0).all(dim=1).flatten(1).sum(dim=1) >= 16


@pytest.mark.parametrize("shape", [(3, 16, 16), (1, 16, 16)])
def test_gan_discriminator_sees_only_augmented_reals_and_fakes(shape):
    """Zhao et al. 2020 eq. 3-4: D's update and G's update both judge T(x) and T(G(z))."""
    cfg = GanConfig(z_dim=8, base_channels=8, conditional=True, augment=["cutout"], d_steps=2)
    model = build("gan", cfg, shape, 2)
    seen = record_discriminator_inputs(model)
    x, y = images(n=4, shape=shape), torch.tensor([0, 1, 0, 1])
    logs = model.training_step(x, y, Optimizers(model.configure_optimizers()))
    assert len(seen) == 3  # two D updates on real + fake, one G update on fakes
    assert all(cut_out(batch).all() for batch in seen)
    assert all(math.isfinite(v) for v in logs.values())


def test_vaegan_augments_what_d_judges_but_not_the_feature_likelihood():
    cfg = VaeGanConfig(z_dim=4, base_channels=8, augment=["cutout"])
    model = build("vaegan", cfg, (3, 16, 16), 1)
    seen = record_discriminator_inputs(model)
    x = images(n=4)
    model.training_step(
        x, torch.zeros(4, dtype=torch.long), Optimizers(model.configure_optimizers())
    )
    # Calls in order: features of x, of Dec(Enc(x)) (encoder), logits of T(fakes) and
    # features of the reconstructions (decoder), then T(x) and T(fakes) (D update).
    assert len(seen) == 6
    assert torch.equal(seen[0], x) and not cut_out(seen[0]).any()
    assert not cut_out(seen[1]).any() and not cut_out(seen[3]).any()
    for i in (2, 4, 5):
        assert cut_out(seen[i]).all(), f"D call {i} judged an un-augmented image"


@pytest.mark.parametrize("family", ["gan", "vaegan"])
@pytest.mark.parametrize("shape", [(3, 32, 32), (3, 64, 64)])
def test_augmented_gan_families_train_at_32_and_64_px(family, shape):
    cls = {"gan": GanConfig, "vaegan": VaeGanConfig}[family]
    model = build(family, cls(z_dim=8, base_channels=8, conditional=True, augment=FULL), shape, 2)
    opt = Optimizers(model.configure_optimizers(), grad_clip=1.0)
    x, y = images(n=4, shape=shape), torch.tensor([0, 1, 1, 0])
    for _ in range(2):
        logs = model.training_step(x, y, opt)
    assert all(math.isfinite(v) for v in logs.values())
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, *shape)
