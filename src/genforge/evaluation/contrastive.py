"""Label-free features: SimCLR-style contrastive learning for small images.

SimCLR (Chen et al. 2020, https://arxiv.org/abs/2002.05709): two random views of each
image go through the network and a small projection head; the NT-Xent loss (sec. 2.1,
eq. 1) pulls the two views of an image together and pushes the other 2(B-1) views of
the batch away. The features used for evaluation are the layer *before* the
projection head (sec. 4.2: it keeps more information than the projection).

The views are made for 16-64 px images, and made so that the features stay sensitive
to blur and noise, which bad generators produce and the calibration references (a
1-pixel blur, the per-pixel Gaussian) test: a random crop by whole pixels (SimCLR's
most important augmentation, sec. 3; up to 1/8 of the side, reflected at the border,
with no resampling: a zooming crop interpolates, i.e. blurs, and taught the features
to ignore blur — blur scored 1.2x the floor's FID against 3x required), a horizontal
flip, and colour jitter (brightness, contrast and, for RGB, saturation, factors in
[0.6, 1.4]: about SimCLR's CIFAR-10 strength; on one-class photo patches 0.2 scored the
blur 2.7x the floor's FID, 0.4 3.9x). There is no blur or noise augmentation, for the
same reason.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MAX_SHIFT = 1 / 8  # the crop moves by up to this share of the side
JITTER = 0.4  # brightness / contrast / saturation: SimCLR's CIFAR strength (0.5 x 0.8)


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def random_crop(x: Tensor, gen: torch.Generator) -> Tensor:
    """Each image moved by whole pixels (up to MAX_SHIFT of its side), reflected at the border."""
    b, _, h, w = x.shape
    pad = max(1, round(MAX_SHIFT * min(h, w)))
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy, dx = (torch.randint(0, 2 * pad + 1, (b,), generator=gen) for _ in range(2))
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(b, x.shape[1], h, w + 2 * pad)
    out = padded.gather(2, rows)  # (B, C, H, W + 2 pad)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(b, x.shape[1], h, w)
    return out.gather(3, cols)


def random_view(x: Tensor, gen: torch.Generator) -> Tensor:
    """One random view of float images in [-1, 1] (B, C, H, W): crop, flip, colour jitter."""
    b = len(x)
    v = random_crop(x, gen)
    flip = torch.rand(b, generator=gen) < 0.5
    v = torch.where(flip[:, None, None, None], v.flip(3), v)
    v = v * _uniform(b, 1 - JITTER, 1 + JITTER, gen)[:, None, None, None]  # contrast about 0
    v = v + _uniform(b, -JITTER, JITTER, gen)[:, None, None, None]  # brightness
    if x.shape[1] == 3:
        grey = v.mean(1, keepdim=True)
        v = grey + (v - grey) * _uniform(b, 1 - JITTER, 1 + JITTER, gen)[:, None, None, None]
    return v.clamp(-1, 1)


class ProjectionHead(nn.Module):
    """SimCLR's g(.): a 2-layer MLP from the features to the space of the loss."""

    def __init__(self, feature_dim: int, out_dim: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(feature_dim, feature_dim), nn.ReLU(), nn.Linear(feature_dim, out_dim)
        )

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """NT-Xent loss of two batches of projections (B, D): view i of z1 matches view i of z2.

    Chen et al. 2020, eq. 1: cross-entropy over the cosine similarities / temperature
    of each view against the 2B - 1 others, the positive being its partner view.
    """
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    sim = z @ z.T / temperature  # (2B, 2B)
    n = len(z1)
    sim.fill_diagonal_(float("-inf"))  # a view is not its own positive or negative
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)
