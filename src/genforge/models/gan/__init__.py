"""DCGAN-style GAN with hinge or non-saturating loss, optional spectral norm and a
projection discriminator for class conditioning.

Update order per batch: `d_steps` discriminator updates on fresh noise, then one
generator update (Goodfellow et al. 2014, Alg. 1). D sees reals and fakes through the
same augmentation in both updates (DiffAugment, Zhao et al. 2020, eq. 3-4), applied with
the probability ADA's controller sets (models/augment.py).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from genforge.models.augment import AdaptiveAugment, AugmentConfig
from genforge.models.base import FamilyConfig, GenerativeModel, Optimizers, signed_to_uint8
from genforge.models.common import DiscriminatorConfig, LazyR1, check_labels, sampling
from genforge.models.nets import ConvGenerator, Discriminator
from genforge.sections import Fraction, PosInt


class GanConfig(FamilyConfig, AugmentConfig, DiscriminatorConfig):
    z_dim: PosInt = 64
    base_channels: PosInt = 64
    loss: Literal["non_saturating", "hinge"] = "hinge"
    spectral_norm: bool = True
    beta1: Fraction = 0.0
    beta2: Fraction = 0.9
    d_steps: PosInt = 1


def discriminator_loss(kind: str, real: Tensor, fake: Tensor) -> Tensor:
    """D loss from real and fake logits (B,)."""
    if kind == "hinge":
        # Lim & Ye 2017 (arXiv 1705.02894); Miyato et al. 2018 eq. 16
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "non_saturating":
        # -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), Goodfellow et al. 2014 eq. 1
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    raise ValueError(f"unknown gan loss {kind!r}; allowed: 'hinge', 'non_saturating'")


def generator_loss(kind: str, fake: Tensor) -> Tensor:
    """G loss from fake logits (B,)."""
    if kind == "hinge":
        return -fake.mean()
    if kind == "non_saturating":
        # maximise log D(G(z)) instead of minimising log(1 - D(G(z))), Goodfellow et al. 2014 §3
        return F.softplus(-fake).mean()
    raise ValueError(f"unknown gan loss {kind!r}; allowed: 'hinge', 'non_saturating'")


class Gan(LazyR1, GenerativeModel):
    """Generator G(z, y) and discriminator D(x, y); optimizers "d" and "g"."""

    family = "gan"
    config_class = GanConfig
    tiny = dict(z_dim=8, base_channels=8, lr=2e-3, beta1=0.5)
    contract_steps = 200
    main_loss = "loss_d"  # D's loss: it oscillates when training is unstable

    def __init__(self, cfg: GanConfig, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(cfg, image_shape, num_classes)
        if cfg.loss not in ("hinge", "non_saturating"):
            raise ValueError(f"gan.loss must be 'hinge' or 'non_saturating', got {cfg.loss!r}")
        self.augment = AdaptiveAugment(cfg, cfg.batch_size)
        self.init_lazy_r1()
        c, h, w = self.image_shape
        k = num_classes if cfg.conditional else 0
        self.generator = ConvGenerator(cfg.z_dim, c, (h, w), cfg.base_channels, num_classes=k)
        self.discriminator = Discriminator(
            c,
            (h, w),
            cfg.base_channels,
            num_classes=k,
            sn=cfg.spectral_norm,
            minibatch_std=cfg.minibatch_std,
        )

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.cfg.beta1, self.cfg.beta2)
        return {
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=self.cfg.lr, betas=betas),
            "g": torch.optim.Adam(self.generator.parameters(), lr=self.cfg.lr, betas=betas),
        }

    def generate(self, z: Tensor, y: Tensor | None) -> Tensor:
        return torch.tanh(self.generator(z, y))  # (B, C, H, W) in [-1, 1]

    @property
    def latent_dim(self) -> int:
        return self.cfg.z_dim

    def decode_latent(self, z: Tensor, labels: Tensor | None) -> Tensor:
        return self.generate(z, labels)

    def training_step(self, x: Tensor, y: Tensor, opt: Optimizers) -> dict[str, float]:
        if self.cfg.conditional:
            check_labels(y, self.num_classes)
        else:
            y = None
        b = x.shape[0]
        for _ in range(self.cfg.d_steps):
            fake = self.generate(torch.randn(b, self.cfg.z_dim, device=x.device), y)
            # One D pass over real and fake together: faster than two on CPU.
            reg = self.r1_due()
            real = x.detach().requires_grad_(reg)
            both = self.augment(torch.cat([real, fake.detach()]))
            logits, _ = self.discriminator(both, None if y is None else torch.cat([y, y]), 2)
            real_logit, fake_logit = logits.chunk(2)  # (B,) each
            loss_d = discriminator_loss(self.cfg.loss, real_logit, fake_logit)
            self.step_d(opt, loss_d, real_logit, real, reg)
            self.augment.observe(real_logit)
        # The last fake batch is reused for G: its graph through G is still intact.
        fake_logit, _ = self.discriminator(self.augment(fake), y)
        loss_g = generator_loss(self.cfg.loss, fake_logit)
        opt.step("g", loss_g)
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": real_logit.mean().item(),
            "d_fake": fake_logit.mean().item(),
            "augment_p": self.augment.probability,
        }

    def sample(
        self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        labels = self.default_labels(n, labels)
        z = self.randn(n, self.cfg.z_dim, generator=generator)  # (n, z_dim)
        with sampling(self):
            return signed_to_uint8(self.generate(z, labels))

    def generator_parameters(self) -> int:
        return sum(p.numel() for p in self.generator.parameters())
