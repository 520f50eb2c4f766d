"""Differentiable augmentation for GAN discriminators (Zhao et al. 2020, arXiv 2006.10738).

With few images the discriminator memorises the training set, its feedback to G
becomes meaningless and training collapses (paper §1, Fig. 1). DiffAugment applies
the same random, differentiable transforms T to real and fake images every time D
sees them, in the D update and the G update alike (eq. 3 and 4):

    L_D = f(D(T(x))) + h(D(T(G(z))))      L_G = g(D(T(G(z))))

so D never sees an un-augmented image and G gets gradients through T. Augmenting
only the reals would teach G to produce augmented images (§3.1, Fig. 4). The three
transforms and their ranges are the paper's "Color + Translation + Cutout" policy,
copied from its reference code (DiffAugment_pytorch.py) for images in [-1, 1]:

- color: brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)
- translation: shift by up to 1/8 of the side, zero (= mid-grey) padding
- cutout: a zeroed square of half the side at a random centre

Each image draws its own parameters from the global torch RNG (the trainer seeds it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

POLICIES = ("color", "translation", "cutout")
Augment = Literal["color", "translation", "cutout"]  # a params entry naming one of POLICIES


def _uniform(x: Tensor) -> Tensor:
    """One U(0, 1) draw per image, shaped to broadcast over (B, C, H, W)."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def color(x: Tensor) -> Tensor:
    """Random brightness, saturation and contrast per image (reference code's rand_*)."""
    x = x + (_uniform(x) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)  # (B, 1, H, W): grey value; a no-op for 1 channel
    x = (x - mean) * (_uniform(x) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * (_uniform(x) + 0.5) + mean  # contrast


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to `ratio` of its side in each direction, zero padding."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )  # (B, H, W) each
    # Index into a copy padded by one zero pixel; out-of-range sources land on the pad.
    gy = (gy + dy + 1).clamp(0, h + 1)
    gx = (gx + dx + 1).clamp(0, w + 1)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (B, H+2, W+2, C)
    return padded[gb, gy, gx].permute(0, 3, 1, 2)  # (B, C, H, W)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero a square of `ratio` x the side per image, centred anywhere (may be clipped)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]  # (1, H, 1)
    xs = torch.arange(w, device=x.device)[None, None, :]  # (1, 1, W)
    inside = (ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch)
    inside = inside & (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def check_policy(policy: Sequence[str]) -> None:
    """Raise a ValueError naming an unknown transform and the allowed ones."""
    for name in policy:
        if name not in TRANSFORMS:
            raise ValueError(f"unknown augment {name!r}; allowed: {', '.join(POLICIES)}")


def diff_augment(x: Tensor, policy: Sequence[str]) -> Tensor:
    """Apply the transforms of `policy` in order to images (B, C, H, W); [] is the identity."""
    for name in policy:
        x = TRANSFORMS[name](x)
    return x
