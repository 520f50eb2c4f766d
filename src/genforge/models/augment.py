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

`AdaptiveAugment` applies each transform to an image with probability p, and by
default sets p as adaptive discriminator augmentation does (ADA, Karras et al. 2020,
arXiv 2006.06676 sec. 3): the overfitting heuristic r_t = E[sign(D(x_real))], over the
reals of the last `interval` D updates, is compared with a target (0.6) and p moves
by sign(r_t - target) * images / speed after each interval, within [0, 1]. D that
tells its training images apart with confidence (r_t -> 1) gets more augmentation;
one that does not (a large, easy set such as the digits) keeps p near 0, so its
images are not altered for nothing. The paper moves p from 0 to 1 in 500k images; at
this project's budgets (~100k images per run) `speed` is 100k images: at 20k the gan's
p swung 0 -> 1 -> 0 within one run and its FID depended on the seed (measured in the
README, "GAN families on a few hundred natural images").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn

from genforge.models.common import default_missing_buffers
from genforge.sections import Fraction, PosInt, Section

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


class AugmentConfig(Section):
    """The augmentation fields of a GAN family's params section (gan, vaegan, stylegan)."""

    # DiffAugment transforms on every image D judges; [] = off (Zhao et al. 2020)
    augment: list[Augment] = ["color", "translation", "cutout"]
    # probability per image and transform: "adaptive" (ADA's controller) or fixed (1 = always)
    augment_p: Literal["adaptive"] | Fraction = "adaptive"
    augment_target: Fraction = 0.6  # ADA's r_t target (arXiv 2006.06676 sec. 3)
    augment_speed: PosInt = 100_000  # images over which an adaptive p can move from 0 to 1


class AdaptiveAugment(nn.Module):
    """DiffAugment with probability p per image and transform; p fixed or adaptive (ADA).

    Call it on every batch D sees (reals and fakes alike); call `observe` with D's
    logits of the reals once per D update. p is a buffer, so checkpoints keep it and a
    resumed run goes on with the same p. An empty policy is the identity and holds no
    buffers (checkpoints of families trained before augmentation load unchanged).
    """

    interval = 4  # D updates per adjustment, as the paper's reference code

    def __init__(self, cfg: AugmentConfig, batch_size: int):
        super().__init__()
        check_policy(cfg.augment)
        self.policy = list(cfg.augment)
        self.adaptive = cfg.augment_p == "adaptive"
        self.target, self.step_size = cfg.augment_target, batch_size / cfg.augment_speed
        if self.policy:
            start = 0.0 if self.adaptive else float(cfg.augment_p)
            self.register_buffer("p", torch.tensor(start, dtype=torch.float64))
            self.register_buffer("signs", torch.zeros(2, dtype=torch.float64))  # sum, count
            self.register_buffer("seen", torch.zeros((), dtype=torch.int64))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A checkpoint from before augmentation existed (a stylegan trained without it)
        has none of the buffers: it loads with the initial ones, as it was trained."""
        default_missing_buffers(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def probability(self) -> float:
        return float(self.p) if self.policy else 0.0

    def forward(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) in [-1, 1], each transform applied with probability p."""
        p = self.probability
        if p == 0.0:
            return x
        for name in self.policy:
            out = TRANSFORMS[name](x)
            if p < 1.0:
                chosen = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
                out = torch.where(chosen, out, x)
            x = out
        return x

    @torch.no_grad()
    def observe(self, real_logits: Tensor) -> None:
        """Record sign(D(real)); adjust p after every `interval` calls (adaptive only)."""
        if not (self.policy and self.adaptive):
            return
        n = real_logits.new_tensor(real_logits.numel())  # on the logits' device
        stats = torch.stack([real_logits.sign().sum(), n])
        if dist.is_available() and dist.is_initialized():  # every rank moves p alike
            dist.all_reduce(stats)
        self.signs += stats.to(self.signs)
        self.seen += 1
        if int(self.seen) % self.interval == 0:
            r_t = float(self.signs[0] / self.signs[1])
            step = self.step_size * self.interval * (1 if r_t > self.target else -1)
            self.p.copy_((self.p + step).clamp(0.0, 1.0))
            self.signs.zero_()
