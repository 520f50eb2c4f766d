"""StyleGAN2 networks at small scale: mapping, synthesis and a residual discriminator.

Karras et al. 2019, "A Style-Based Generator Architecture for GANs" (arXiv 1812.04948):
the mapping network z -> w, a learned constant input, per-layer styles and noise.
Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN" (arXiv
1912.04958): weight demodulation instead of AdaIN (sec. 2.2, eq. 1-3), skip-connection
toRGB outputs in G and a residual D (sec. 4.1, Fig. 7). Every layer uses the equalized
learning rate (ProGAN, arXiv 1710.10196 sec. 4.1): weights are stored N(0, 1/lr_mul)
and scaled at run time, so Adam's step is the same for every layer.

Resolutions follow nets.down_levels (16 px: 4 -> 8 -> 16, 28 px: 7 -> 14 -> 28) and the
widths nets.level_width, so G and D are as wide as the gan family's nets per level.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genforge.models.nets import down_levels, level_width

LRELU_GAIN = math.sqrt(2)  # keeps unit variance through leaky ReLU (StyleGAN's bias_act)


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """x / sqrt(mean(x^2)) per row: the mapping network's input normalisation (1812.04948)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class EqualLinear(nn.Module):
    """Linear layer with the equalized learning rate and a learning-rate multiplier."""

    def __init__(self, d_in: int, d_out: int, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((d_out,), float(bias_init)) / lr_mul)
        self.w_gain, self.lr_mul = lr_mul / math.sqrt(d_in), lr_mul

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.w_gain, self.bias * self.lr_mul)


class EqualConv(nn.Module):
    """k x k convolution with the equalized learning rate (zero padding, same size)."""

    def __init__(self, c_in: int, c_out: int, k: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.gain, self.pad = 1 / math.sqrt(c_in * k * k), k // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.gain, self.bias, padding=self.pad)


class MappingNetwork(nn.Module):
    """z (+ a class embedding) -> w: an MLP whose weights learn `lr_mul` times slower
    (1812.04948 sec. 2: 8 layers, lr x 0.01; conditioning as in StyleGAN2-ADA, the
    normalised embedding concatenated to the normalised z)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, num_classes: int, lr_mul: float):
        super().__init__()
        self.embed = EqualLinear(num_classes, w_dim) if num_classes > 0 else None
        d_in = z_dim + (w_dim if self.embed is not None else 0)
        dims = [d_in] + [w_dim] * layers
        self.fcs = nn.ModuleList(
            EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, z: Tensor, y: Tensor | None) -> Tensor:
        h = normalize_2nd_moment(z)  # (B, z_dim)
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is conditional: labels are required")
            onehot = F.one_hot(y, self.embed.weight.shape[1]).to(z.dtype)
            h = torch.cat([h, normalize_2nd_moment(self.embed(onehot))], dim=1)
        for fc in self.fcs:
            h = lrelu(fc(h))
        return h  # (B, w_dim)


def modulated_conv(x: Tensor, weight: Tensor, style: Tensor, demodulate: bool) -> Tensor:
    """StyleGAN2 eq. 1-3 without per-sample weights (1912.04958 sec. 2.2).

    w'_ijk = s_i w_ijk (eq. 1) and w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + eps) (eq. 3).
    Scaling the input channels by s, convolving with the shared w and scaling the output
    channels by the demodulation factor is the same operation (the official code's
    non-fused path) and, on a CPU, far cheaper than a grouped convolution per sample.

    Args:
        x: (B, I, H, W) input; weight: (O, I, k, k) already gain-scaled; style: (B, I).
    """
    k = weight.shape[-1]
    out = F.conv2d(x * style[:, :, None, None], weight, padding=k // 2)  # (B, O, H, W)
    if demodulate:
        # sum_ik (s_i w_ijk)^2 = sum_i s_i^2 sum_k w_ijk^2, eq. 2-3
        sigma_inv = (style.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()
        out = out * sigma_inv[:, :, None, None]  # (B, O, 1, 1) broadcast
    return out


class StyleLayer(nn.Module):
    """Modulated 3x3 conv (+ optional 2x upsampling first), noise with a learned strength
    (1812.04948 sec. 3.2, initialised to 0 as in StyleGAN2), bias and leaky ReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, hw: tuple[int, int], up: bool):
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # styles start at s = 1
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.gain, self.up, self.hw = 1 / math.sqrt(c_in * 9), up, hw
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))
        # noise="const": one fixed draw per layer (StyleGAN2's noise_const buffers)
        self.register_buffer("noise_const", torch.randn(1, 1, *hw))

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None) -> Tensor:
        if self.up:  # bilinear 2x, as StyleGAN (1812.04948 sec. 2, after Zhang 2019)
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = modulated_conv(x, self.weight * self.gain, self.affine(w), demodulate=True)
        if noise is None:  # training: fresh per-pixel noise, broadcast over channels
            noise = torch.randn(x.shape[0], 1, *self.hw, device=x.device, dtype=x.dtype)
        x = x + self.noise_strength * noise
        return lrelu(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """Modulated 1x1 conv to image channels, not demodulated (StyleGAN2 Fig. 7b)."""

    def __init__(self, c_in: int, channels: int, w_dim: int):
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, c_in, 1, 1))
        self.gain = 1 / math.sqrt(c_in)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        out = modulated_conv(x, self.weight * self.gain, self.affine(w), demodulate=False)
        return out + self.bias[None, :, None, None]


class SynthesisNetwork(nn.Module):
    """Learned constant -> image through StyleLayers; the toRGB outputs of every resolution
    are upsampled and summed (the skip generator, 1912.04958 Fig. 7b).

    Style indices as in the official code: conv layers use ws[0], ws[1], ... in order and
    each resolution's toRGB the index after its last conv, so there are 2 * levels + 2
    styles (16 px: 6). Layers [0, k) are "coarse" in a style-mixing crossover at k.
    """

    def __init__(self, w_dim: int, image_shape: tuple[int, int, int], base_channels: int):
        super().__init__()
        c, h, w = image_shape
        self.levels = down_levels(h, w)
        h0, w0 = h >> self.levels, w >> self.levels
        ch = level_width(base_channels, self.levels)
        self.const = nn.Parameter(torch.randn(1, ch, h0, w0))  # 1812.04948 sec. 2
        self.layers = nn.ModuleList([StyleLayer(ch, ch, w_dim, (h0, w0), up=False)])
        self.torgbs = nn.ModuleList([ToRGB(ch, c, w_dim)])
        for level in reversed(range(self.levels)):
            out, hw = level_width(base_channels, level), (h >> level, w >> level)
            self.layers.append(StyleLayer(ch, out, w_dim, hw, up=True))
            self.layers.append(StyleLayer(out, out, w_dim, hw, up=False))
            self.torgbs.append(ToRGB(out, c, w_dim))
            ch = out
        self.num_ws = len(self.layers) + 1

    def const_noise(self, n: int) -> list[Tensor]:
        return [layer.noise_const.expand(n, -1, -1, -1) for layer in self.layers]

    def random_noise(self, n: int, generator: torch.Generator | None) -> list[Tensor]:
        """Per-layer noise from `generator` on the CPU (seed-stable across devices)."""
        device = self.const.device
        return [
            torch.randn(n, 1, *layer.hw, generator=generator).to(device) for layer in self.layers
        ]

    def forward(self, ws: Tensor, noise: list[Tensor] | None = None) -> Tensor:
        """ws (B, num_ws, w_dim), noise one (B, 1, H, W) per layer or None (fresh) ->
        raw images (B, C, H, W), not clamped (StyleGAN's output is linear)."""
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        noise = noise if noise is not None else [None] * len(self.layers)
        x = self.layers[0](x, ws[:, 0], noise[0])
        img = self.torgbs[0](x, ws[:, 1])
        for i, torgb in enumerate(self.torgbs[1:]):
            a, b = 1 + 2 * i, 2 + 2 * i
            x = self.layers[a](x, ws[:, a], noise[a])
            x = self.layers[b](x, ws[:, b], noise[b])
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
            img = img + torgb(x, ws[:, b + 1])
        return img
