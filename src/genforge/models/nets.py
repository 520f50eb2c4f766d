"""Convolutional building blocks shared by the GAN, VAE and VAE-GAN families.

The networks adapt to the image size: they halve the resolution while it stays even
and at least 4 pixels (16 -> 8 -> 4, 28 -> 14 -> 7, 64 -> 32 -> 16 -> 8 -> 4), so one
definition serves 8x8 to 256x256 images with 1 or 3 channels: depth grows with the
image, as in DCGAN's 64x64 nets (four stride-2 layers from 4x4). The width doubles per
level up to 8x `base_channels` (`MAX_WIDTH_MULT`), so 16 and 32 px keep their widths
and a 64 px net is one level deeper, not 2x wider at the bottom. No BatchNorm anywhere: the
trainer's EMA copy (`AveragedModel`) averages parameters, not running statistics,
and a BatchNorm generator would sample from stale statistics in eval mode.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

MAX_WIDTH_MULT = 8  # widest level = 8x base_channels (DCGAN 64 px: 64 -> 512 channels)


def down_levels(height: int, width: int, max_levels: int = 6, min_size: int = 4) -> int:
    """How many exact 2x downsamplings (height, width) allow while staying >= `min_size`."""
    levels = 0
    while (
        levels < max_levels
        and height % 2 == 0
        and width % 2 == 0
        and min(height, width) // 2 >= min_size
    ):
        height, width, levels = height // 2, width // 2, levels + 1
    return levels


def level_width(base_channels: int, level: int) -> int:
    """Channels at downsampling level `level` (0 = full resolution): doubling, capped."""
    return base_channels * min(2**level, MAX_WIDTH_MULT)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups that divide `channels` (works for tiny test widths)."""
    return nn.GroupNorm(math.gcd(8, channels), channels)


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018, arXiv 1802.05957) when `enabled`."""
    return _sn(module) if enabled else module


class ConvGenerator(nn.Module):
    """DCGAN-style generator (Radford et al. 2015, arXiv 1511.06434): z -> image.

    A linear layer maps z (plus a label embedding when conditional) to a small feature
    map, then stride-2 transposed convolutions double the resolution, with the widths
    of `level_width` (halving towards full resolution), and a 3x3 convolution gives `out_channels` raw outputs (no
    squashing; the family decides between tanh and a likelihood's parameters).

    Args:
        z_dim: latent size.
        out_channels: output channels (C for images, 2C for mean and log-scale).
        image_hw: (H, W) of the output.
        base_channels: width at full resolution; see `level_width` for the others.
        num_classes: > 0 adds a label embedding concatenated to z.
    """

    def __init__(
        self,
        z_dim: int,
        out_channels: int,
        image_hw: tuple[int, int],
        base_channels: int,
        num_classes: int = 0,
    ):
        super().__init__()
        h, w = image_hw
        self.levels = down_levels(h, w)
        self.h0, self.w0 = h >> self.levels, w >> self.levels
        self.c0 = level_width(base_channels, self.levels)
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes > 0 else None
        in_dim = z_dim * (2 if self.embed is not None else 1)
        self.fc = nn.Linear(in_dim, self.c0 * self.h0 * self.w0)
        layers: list[nn.Module] = [group_norm(self.c0), nn.ReLU()]
        ch = self.c0
        for level in reversed(range(self.levels)):
            out = level_width(base_channels, level)
            layers += [nn.ConvTranspose2d(ch, out, 4, 2, 1), group_norm(out), nn.ReLU()]
            ch = out
        layers.append(nn.Conv2d(ch, out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is conditional: labels are required")
            z = torch.cat([z, self.embed(y)], dim=1)  # (B, 2 * z_dim)
        h = self.fc(z).view(-1, self.c0, self.h0, self.w0)  # (B, c0, h0, w0)
        return self.net(h)  # (B, out_channels, H, W)


class ConvTrunk(nn.Module):
    """Image -> feature map: a 3x3 stem, then stride-2 4x4 convolutions (`level_width`).

    Shared by the discriminators and the encoders. LeakyReLU(0.2) as in DCGAN;
    spectral normalisation on every layer when `sn`; GroupNorm when `norm`.
    """

    def __init__(
        self,
        in_channels: int,
        image_hw: tuple[int, int],
        base_channels: int,
        sn: bool = False,
        norm: bool = False,
    ):
        super().__init__()
        h, w = image_hw
        self.levels = down_levels(h, w)
        self.out_hw = (h >> self.levels, w >> self.levels)
        self.out_channels = level_width(base_channels, self.levels)
        layers: list[nn.Module] = [
            maybe_sn(nn.Conv2d(in_channels, base_channels, 3, padding=1), sn),
            nn.LeakyReLU(0.2),
        ]
        ch = base_channels
        for level in range(1, self.levels + 1):
            out = level_width(base_channels, level)
            layers.append(maybe_sn(nn.Conv2d(ch, out, 4, 2, 1), sn))
            if norm:
                layers.append(group_norm(out))
            layers.append(nn.LeakyReLU(0.2))
            ch = out
        # One more 3x3 at the lowest resolution: the hidden layer VAE-GAN compares on.
        layers.append(maybe_sn(nn.Conv2d(ch, ch, 3, padding=1), sn))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (B, out_channels, h0, w0), pre-activation


def minibatch_stddev(x: Tensor, chunks: int, group: int = 4) -> Tensor:
    """Append the mean std over groups of `group` consecutive images as one feature map.

    Groups never cross the `chunks` equal parts of the batch, so a batch of reals and
    fakes concatenated (one D pass for both) gives the same statistic as two passes.
    """
    b, c, h, w = x.shape
    part = b // chunks
    g = max(d for d in range(1, min(group, part) + 1) if part % d == 0)
    y = x.view(b // g, g, c, h, w)  # consecutive images form a group
    y = y - y.mean(dim=1, keepdim=True)  # the official code's steps; Tensor.var is ~8x
    y = (y.square().mean(dim=1) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # slower on a CPU
    y = y.repeat_interleave(g).view(b, 1, 1, 1).expand(b, 1, h, w)
    return torch.cat([x, y], dim=1)  # (B, C + 1, H, W)


class Discriminator(nn.Module):
    """Conv discriminator with an optional projection head (Miyato & Koyama 2018).

    Returns the logit and the hidden feature map (used by VAE-GAN's feature loss).
    Projection: logit = psi(phi(x)) + <embed(y), phi(x)>, arXiv 1802.05637 eq. 3.
    """

    def __init__(
        self,
        in_channels: int,
        image_hw: tuple[int, int],
        base_channels: int,
        num_classes: int = 0,
        sn: bool = True,
        minibatch_std: bool = False,
    ):
        super().__init__()
        self.trunk = ConvTrunk(in_channels, image_hw, base_channels, sn=sn)
        ch = self.trunk.out_channels
        self.act = nn.LeakyReLU(0.2)
        # ProGAN's minibatch standard deviation (arXiv 1710.10196 sec. 3): one more map
        # holding the batch's spread, then a 3x3 conv, so D sees a batch lacking variety
        self.mbstd = maybe_sn(nn.Conv2d(ch + 1, ch, 3, padding=1), sn) if minibatch_std else None
        self.head = maybe_sn(nn.Linear(ch, 1), sn)
        self.embed = maybe_sn(nn.Embedding(num_classes, ch), sn) if num_classes > 0 else None

    def forward(self, x: Tensor, y: Tensor | None = None, chunks: int = 1) -> tuple[Tensor, Tensor]:
        """x (B, C, H, W); `chunks`: how many separately drawn parts x holds (reals and
        fakes in one pass: 2), so the minibatch std never mixes them."""
        feats = self.trunk(x)  # (B, ch, h0, w0)
        h = self.act(feats)
        if self.mbstd is not None:
            h = self.act(self.mbstd(minibatch_stddev(h, chunks)))
        h = h.sum(dim=(2, 3))  # (B, ch), global sum pooling as in SNGAN
        logit = self.head(h).squeeze(1)  # (B,)
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is conditional: labels are required")
            logit = logit + (self.embed(y) * h).sum(dim=1)
        return logit, feats


class GaussianEncoder(nn.Module):
    """q(z | x, y): conv trunk -> (mu, logvar); a label embedding joins the flat features."""

    def __init__(
        self,
        in_channels: int,
        image_hw: tuple[int, int],
        base_channels: int,
        z_dim: int,
        num_classes: int = 0,
    ):
        super().__init__()
        self.trunk = ConvTrunk(in_channels, image_hw, base_channels, norm=True)
        flat = self.trunk.out_channels * self.trunk.out_hw[0] * self.trunk.out_hw[1]
        self.embed = nn.Embedding(num_classes, 64) if num_classes > 0 else None
        self.fc = nn.Linear(flat + (64 if self.embed is not None else 0), 2 * z_dim)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = torch.flatten(nn.functional.leaky_relu(self.trunk(x), 0.2), 1)  # (B, flat)
        if self.embed is not None:
            if y is None:
                raise ValueError("this encoder is conditional: labels are required")
            h = torch.cat([h, self.embed(y)], dim=1)
        mu, logvar = self.fc(h).chunk(2, dim=1)  # (B, z_dim) each
        return mu, logvar.clamp(-12.0, 8.0)
