"""Targeted checks of the pieces the families are built from: masks, schedules,
samplers, likelihoods and the size-adaptive networks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genforge.models import build
from genforge.models.diffusion import DiffusionConfig
from genforge.models.diffusion.schedule import GaussianDiffusion, make_betas, sampling_timesteps
from genforge.models.nets import ConvGenerator, Discriminator, down_levels
from genforge.models.pixelcnn import MaskedConv2d, PixelCnnConfig, horizontal_mask, vertical_mask
from genforge.models.vae.likelihood import discretized_logistic_nll


# ------------------------------------------------------------------ PixelCNN
@pytest.mark.parametrize("channels", [1, 3])
def test_pixelcnn_output_depends_only_on_previous_pixels(channels):
    """d logits(i) / d x(k) is zero for every k >= i in raster order, and non-zero for
    every k < i on an image the receptive field covers (no blind spot)."""
    h = w = 6
    model = build(
        "pixelcnn",
        PixelCnnConfig(hidden=8, layers=4, levels=4, first_kernel=7),
        (channels, h, w),
        2,
    )
    x = torch.randn(1, channels, h, w, requires_grad=True)
    logits = model.network(x, None)  # (1, L, C, H, W)
    for i in range(h * w):
        (grad,) = torch.autograd.grad(logits[0, :, :, i // w, i % w].sum(), x, retain_graph=True)
        seen = grad[0].abs().sum(dim=0).flatten() > 0  # (H * W,)
        assert not seen[i:].any(), f"pixel {i} sees the current or a future pixel"
        assert seen[:i].all(), f"pixel {i} has a blind spot"


@pytest.mark.parametrize("channels", [1, 3])
def test_pixelcnn_cached_sampling_equals_the_full_network_per_pixel(channels):
    """sample() runs the vertical stack once per row and the horizontal stack on one
    row prefix per pixel; it must draw exactly what the full network would."""
    cfg = PixelCnnConfig(hidden=8, layers=3, levels=5, first_kernel=5, conditional=True)
    model = build("pixelcnn", cfg, (channels, 5, 6), 3)
    for p in model.parameters():  # a trained-looking, non-trivial net
        torch.nn.init.normal_(p, std=0.3)
    labels = torch.tensor([0, 1, 2, 1])
    got = model.sample(4, labels=labels, generator=torch.Generator().manual_seed(7))

    u = torch.rand(4, channels, 5, 6, generator=torch.Generator().manual_seed(7))
    idx = torch.zeros(4, channels, 5, 6, dtype=torch.long)
    with torch.no_grad():
        for i in range(5):
            for j in range(6):
                cdf = model.logits(idx, labels)[:, :, :, i, j].softmax(dim=1).cumsum(dim=1)
                idx[:, :, i, j] = (cdf < u[:, None, :, i, j]).sum(dim=1).clamp_max(4)
    expected = ((idx.float() / 4 * 2 - 1 + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(got, expected)


@pytest.mark.parametrize(
    "mask",
    [
        vertical_mask(5, True),
        vertical_mask(3, False),
        horizontal_mask(7, True),
        horizontal_mask(3, False),
    ],
)
def test_cropped_masked_conv_equals_the_full_masked_kernel(mask):
    conv = MaskedConv2d(2, 3, mask)
    x = torch.randn(2, 2, 7, 7)
    kh, kw = mask.shape
    full = torch.zeros(3, 2, kh, kw)
    r = mask.any(dim=1).nonzero().flatten()
    c = mask.any(dim=0).nonzero().flatten()
    full[:, :, r[0] : r[-1] + 1, c[0] : c[-1] + 1] = conv.weight * conv.mask
    expected = F.conv2d(x, full * mask, conv.bias, padding=(kh // 2, kw // 2))
    torch.testing.assert_close(conv(x), expected)


def test_pixelcnn_quantization_round_trips_8bit_data():
    model = build("pixelcnn", PixelCnnConfig(levels=256, hidden=8, layers=1), (1, 4, 4), 2)
    x = torch.arange(256).float().view(1, 1, 16, 16) / 127.5 - 1
    torch.testing.assert_close(model.dequantize(model.quantize(x)), x)
    with pytest.raises(ValueError, match="odd"):
        PixelCnnConfig(kernel=4)


# ----------------------------------------------------------------- diffusion
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("timesteps", [10, 1000])
def test_alphas_cumprod_decrease_inside_0_1(schedule, timesteps):
    betas = make_betas(schedule, timesteps)
    ab = GaussianDiffusion(schedule, timesteps).alphas_cumprod
    assert ((betas > 0) & (betas < 1)).all()
    assert ((ab > 0) & (ab < 1)).all() and (ab[1:] < ab[:-1]).all()


def test_unknown_schedule_and_sampler_raise():
    with pytest.raises(ValueError, match="schedule"):
        make_betas("quadratic", 10)
    model = build(
        "diffusion",
        DiffusionConfig(base_channels=8, channel_mults=[1], timesteps=10, sample_steps=2),
        (1, 4, 4),
        2,
    )
    with pytest.raises(ValueError, match="sampler"):
        model.sample(1, sampler="euler")


def test_sampling_timesteps_cover_the_range():
    assert sampling_timesteps(10, 10) == list(range(9, -1, -1))
    assert sampling_timesteps(1000, 1) == [999]
    assert sampling_timesteps(1000, 50)[0] == 999 and len(sampling_timesteps(1000, 50)) == 50
    for bad in (0, 11):
        with pytest.raises(ValueError):
            sampling_timesteps(10, bad)


@pytest.mark.parametrize("steps", [100, 7, 1])
def test_ddim_with_the_true_noise_recovers_the_data(steps):
    """With an exact epsilon for a one-point data set, deterministic DDIM lands on it."""
    diffusion = GaussianDiffusion("linear", 100)
    x0 = torch.rand(2, 1, 4, 4) * 1.6 - 0.8

    def eps_fn(x_t, t):
        ab = diffusion.alpha_bar(t)
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()

    out = diffusion.sample(eps_fn, torch.randn(2, 1, 4, 4), steps, eta=0.0)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=0)


def test_eta_1_step_is_the_ddpm_posterior():
    """Full-length eta = 1 step: mean and std of q(x_{t-1} | x_t, x_0), Ho et al. eq. 6-7."""
    d = GaussianDiffusion("cosine", 50)
    x0, noise = torch.rand(3, 1, 2, 2) - 0.5, torch.randn(3, 1, 2, 2)
    t = 20
    ab, ab_prev, beta = d.alphas_cumprod[t], d.alphas_cumprod[t - 1], d.betas[t]
    x_t = d.q_sample(x0, torch.full((3,), t), noise)
    mean = (ab_prev.sqrt() * beta / (1 - ab)) * x0 + (
        (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)
    ) * x_t
    std = ((1 - ab_prev) / (1 - ab) * beta).sqrt()
    z = torch.randn_like(x0)
    out = d.step(noise, x_t, t, t - 1, eta=1.0, noise=z, clip=False)
    torch.testing.assert_close(out, mean + std * z, atol=1e-5, rtol=1e-4)


def test_guidance_needs_conditional_training_with_label_dropout():
    with pytest.raises(ValueError, match="guidance_scale"):
        DiffusionConfig(guidance_scale=2.0, conditional=True, cond_drop_prob=0.0)
    with pytest.raises(ValueError, match="divisible"):
        build("diffusion", DiffusionConfig(channel_mults=[1, 2, 2, 2]), (1, 12, 12), 2)


# --------------------------------------------------------------- likelihood
def test_discretized_logistic_sums_to_one_over_the_256_values():
    x = torch.arange(256).float().view(256, 1, 1, 1) / 127.5 - 1
    for mean, log_scale in [(0.3, -3.0), (-0.99, -5.0), (0.0, 0.0), (1.2, -6.5)]:
        nll = discretized_logistic_nll(
            x, torch.full_like(x, mean), torch.full_like(x, log_scale)
        )  # (256,)
        torch.testing.assert_close(torch.exp(-nll).sum(), torch.tensor(1.0), atol=2e-3, rtol=0)


# ------------------------------------------------------------------ networks
@pytest.mark.parametrize(
    "size, levels", [(8, 1), (16, 2), (28, 2), (32, 3), (64, 4), (128, 5), (15, 0)]
)
def test_networks_adapt_to_the_image_size(size, levels):
    """Down to a 4x4 map whatever the size (64 px: 4 levels, as DCGAN), the width
    doubling per level but capped at 8x base (64 px: 8 -> 64 channels, not 128)."""
    assert down_levels(size, size) == levels
    assert Discriminator(3, (size, size), 8).trunk.out_channels == 8 * min(2**levels, 8)
    g = ConvGenerator(4, 3, (size, size), 8, num_classes=2)
    d = Discriminator(3, (size, size), 8, num_classes=2)
    y = torch.tensor([0, 1])
    img = g(torch.randn(2, 4), y)
    assert img.shape == (2, 3, size, size)
    logit, feats = d(img, y)
    assert logit.shape == (2,) and feats.shape[0] == 2
