"""StyleGAN2's residual discriminator at small scale (arXiv 1912.04958 sec. 4.1, Fig. 7c),
with a projection head for class conditioning (Miyato & Koyama 2018, arXiv 1802.05637).

fromRGB 1x1 at full resolution; per level a residual block of two 3x3 convolutions and a
2x average-pool downsampling, its skip a 1x1 conv, summed and scaled by 1/sqrt(2); at the
lowest resolution the minibatch standard deviation (ProGAN, arXiv 1710.10196 sec. 3), a
3x3 conv and two fully connected layers. Equalized learning rate throughout.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from genforge.models.nets import down_levels, level_width, minibatch_stddev
from genforge.models.stylegan.networks import EqualConv, EqualLinear, lrelu


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv0 = EqualConv(c_in, c_in, 3)
        self.conv1 = EqualConv(c_in, c_out, 3)
        self.skip = EqualConv(c_in, c_out, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        h = F.avg_pool2d(lrelu(self.conv0(x)), 2)
        h = lrelu(self.conv1(h))
        return (h + skip) / math.sqrt(2)  # 1912.04958 Fig. 7c: unit variance after the sum


class ResidualDiscriminator(nn.Module):
    """D(x, y) -> logit (B,); conditional through projection: logit += <embed(y), h>."""

    def __init__(self, in_channels: int, image_hw: tuple[int, int], base_channels: int, k: int):
        super().__init__()
        h, w = image_hw
        levels = down_levels(h, w)
        self.from_rgb = EqualConv(in_channels, base_channels, 1)
        self.blocks = nn.ModuleList(
            ResidualBlock(level_width(base_channels, lv), level_width(base_channels, lv + 1))
            for lv in range(levels)
        )
        ch = level_width(base_channels, levels)
        self.conv = EqualConv(ch + 1, ch, 3)
        self.fc = EqualLinear(ch * (h >> levels) * (w >> levels), ch)
        self.out = EqualLinear(ch, 1)
        self.embed = nn.Embedding(k, ch) if k > 0 else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=1 / math.sqrt(ch))

    def forward(self, x: Tensor, y: Tensor | None = None, chunks: int = 1) -> Tensor:
        """x (B, C, H, W) in [-1, 1]; `chunks`: how many separately drawn parts x holds."""
        h = lrelu(self.from_rgb(x))
        for block in self.blocks:
            h = block(h)
        h = lrelu(self.conv(minibatch_stddev(h, chunks)))
        h = lrelu(self.fc(h.flatten(1)))  # (B, ch)
        logit = self.out(h).squeeze(1)  # (B,)
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is conditional: labels are required")
            logit = logit + (self.embed(y) * h).sum(dim=1)  # 1802.05637 eq. 3
        return logit
