"""DiffAugment (Zhao et al. 2020): the transforms, that the GAN families apply them to
every image their discriminator judges, and ADA's controller of their probability."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

from genforge.models import Optimizers, build
from genforge.models.augment import (
    POLICIES,
    AdaptiveAugment,
    AugmentConfig,
    check_policy,
    cutout,
    diff_augment,
    translation,
)
from genforge.models.gan import GanConfig
from genforge.models.stylegan import StyleganConfig
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
    cfg = GanConfig(
        z_dim=8, base_channels=8, conditional=True, augment=["cutout"], augment_p=1.0, d_steps=2
    )
    model = build("gan", cfg, shape, 2)
    seen = record_discriminator_inputs(model)
    x, y = images(n=4, shape=shape), torch.tensor([0, 1, 0, 1])
    logs = model.training_step(x, y, Optimizers(model.configure_optimizers()))
    assert len(seen) == 3  # two D updates on real + fake, one G update on fakes
    assert all(cut_out(batch).all() for batch in seen)
    assert all(math.isfinite(v) for v in logs.values())


def test_vaegan_augments_what_d_judges_but_not_the_feature_likelihood():
    cfg = VaeGanConfig(z_dim=4, base_channels=8, augment=["cutout"], augment_p=1.0)
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


def test_stylegan_discriminator_sees_only_augmented_reals_and_fakes():
    cfg = StyleganConfig(
        z_dim=8, w_dim=16, mapping_layers=2, base_channels=8, augment=["cutout"], augment_p=1.0
    )
    model = build("stylegan", cfg, (3, 16, 16), 1)
    seen = record_discriminator_inputs(model)
    model.training_step(
        images(n=4), torch.zeros(4, dtype=torch.long), Optimizers(model.configure_optimizers())
    )
    assert len(seen) == 2  # D update on real + fake (R1 at step 0 included), G update
    assert all(cut_out(batch).all() for batch in seen)


CONFIGS = {"gan": GanConfig, "vaegan": VaeGanConfig, "stylegan": StyleganConfig}


@pytest.mark.parametrize("family", list(CONFIGS))
@pytest.mark.parametrize("shape", [(3, 32, 32), (3, 64, 64)])
def test_augmented_gan_families_train_at_32_and_64_px(family, shape):
    tiny = {"z_dim": 8, "base_channels": 8, "conditional": True, "augment": FULL, "augment_p": 0.5}
    model = build(family, CONFIGS[family](**tiny), shape, 2)
    opt = Optimizers(model.configure_optimizers(), grad_clip=1.0)
    x, y = images(n=4, shape=shape), torch.tensor([0, 1, 1, 0])
    for _ in range(2):
        logs = model.training_step(x, y, opt)
    assert all(math.isfinite(v) for v in logs.values())
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, *shape)


def controller(**cfg) -> AdaptiveAugment:
    return AdaptiveAugment(AugmentConfig(**cfg), batch_size=50)


def test_adaptive_p_starts_at_zero_and_rises_while_d_is_confident_on_reals():
    """ADA (arXiv 2006.06676 sec. 3): every 4 D updates p moves by
    sign(r_t - target) * 4 * batch / speed, r_t = E[sign D(real)], within [0, 1]."""
    aug = controller(augment_speed=1000)  # 4 x 50 / 1000 = 0.2 per adjustment
    x = images(n=8)
    assert aug.probability == 0.0 and aug(x) is x  # nothing altered before D overfits
    confident = torch.tensor([3.0] * 9 + [-1.0])  # r_t = 0.8 > 0.6
    for i in range(1, 13):
        aug.observe(confident)
        assert aug.probability == pytest.approx(min(0.2 * (i // 4), 1.0))
    unsure = torch.tensor([1.0] * 5 + [-1.0] * 5)  # r_t = 0 < 0.6
    for _ in range(8):
        aug.observe(unsure)
    assert aug.probability == pytest.approx(0.2)
    for _ in range(40):
        aug.observe(confident)
    assert aug.probability == 1.0  # clamped


def test_p_is_kept_in_the_state_dict_so_a_resumed_run_goes_on_with_it():
    aug = controller(augment_speed=1000)
    for _ in range(8):
        aug.observe(torch.ones(10))
    resumed = controller(augment_speed=1000)
    resumed.load_state_dict(aug.state_dict())
    assert resumed.probability == pytest.approx(0.4)
    assert "p" in aug.state_dict()


def test_a_fixed_p_never_moves_and_an_empty_policy_holds_no_state():
    fixed = controller(augment_p=0.3)
    for _ in range(8):
        fixed.observe(torch.ones(10))
    assert fixed.probability == pytest.approx(0.3)
    off = controller(augment=[])
    assert off.state_dict() == {} and off.probability == 0.0  # old checkpoints load as before
    x = images()
    assert off(x) is x


def test_each_image_is_augmented_with_probability_p():
    torch.manual_seed(0)
    aug = controller(augment=["cutout"], augment_p=0.25)
    out = aug(torch.ones(4000, 1, 16, 16))
    share = cut_out(out).float().mean().item()
    assert 0.22 < share < 0.28, share


def test_a_checkpoint_from_before_augmentation_loads():
    """Stylegan checkpoints written before its augment fields existed hold no buffers."""
    cfg = StyleganConfig(z_dim=8, w_dim=16, mapping_layers=2, base_channels=8)
    model = build("stylegan", cfg, (1, 16, 16), 1)
    old = {k: v for k, v in model.state_dict().items() if not k.startswith("augment.")}
    fresh = build("stylegan", cfg, (1, 16, 16), 1)
    fresh.load_state_dict(old)  # strict: every other key must still match
    assert fresh.augment.probability == 0.0
