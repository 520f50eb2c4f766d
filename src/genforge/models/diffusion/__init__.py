"""DDPM with epsilon prediction (Ho et al. 2020, arXiv 2006.11239), linear or cosine
schedule, DDIM or ancestral sampling and optional classifier-free guidance
(Ho & Salimans 2022, arXiv 2207.12598).

The network (`unet.py`) and the schedule/samplers (`schedule.py`) live apart; this
module wires them into the family interface.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

from genforge.models.base import (
    Denoiser,
    FamilyConfig,
    GenerativeModel,
    Optimizers,
    signed_to_uint8,
)
from genforge.models.common import check_labels, sampling
from genforge.models.diffusion.schedule import GaussianDiffusion, sampling_timesteps
from genforge.models.diffusion.unet import UNet
from genforge.sections import Fraction, PosInt

SAMPLERS = ("ddim", "ancestral")


class DiffusionConfig(FamilyConfig):
    base_channels: PosInt = 32
    channel_mults: list[PosInt] = Field(default=[1, 2, 2], min_length=1, max_length=5)
    num_res_blocks: PosInt = 1
    attention: bool = True  # self-attention at the lowest resolution
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    timesteps: Annotated[int, Field(ge=10)] = 1000
    schedule: Literal["linear", "cosine"] = "cosine"
    sampler: Literal["ddim", "ancestral"] = "ddim"
    sample_steps: PosInt = 50
    eta: Fraction = 0.0  # DDIM stochasticity; "ancestral" always uses 1
    guidance_scale: Annotated[float, Field(ge=0)] = 0.0
    cond_drop_prob: Fraction = 0.1

    @model_validator(mode="after")
    def _steps_fit(self) -> DiffusionConfig:
        if self.sample_steps > self.timesteps:
            raise ValueError(
                f"models.diffusion.sample_steps ({self.sample_steps}) must be <= "
                f"models.diffusion.timesteps ({self.timesteps})"
            )
        if self.guidance_scale > 0 and not (self.conditional and self.cond_drop_prob > 0):
            raise ValueError(
                f"models.diffusion.guidance_scale ({self.guidance_scale}) > 0 needs conditional: true and "
                f"cond_drop_prob > 0 (got {self.conditional}, {self.cond_drop_prob})"
            )
        return self


class Diffusion(GenerativeModel):
    """U-Net eps_theta plus a Gaussian diffusion; one optimizer "unet"."""

    family = "diffusion"
    config_class = DiffusionConfig
    tiny = dict(
        base_channels=16,
        channel_mults=[1, 2],
        timesteps=50,
        sampler="ancestral",
        sample_steps=10,
        lr=3e-3,
    )
    contract_steps = 150

    def __init__(self, cfg: DiffusionConfig, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(cfg, image_shape, num_classes)
        c, h, w = self.image_shape
        factor = 2 ** (len(cfg.channel_mults) - 1)
        if h % factor or w % factor:
            raise ValueError(
                f"diffusion.channel_mults has {len(cfg.channel_mults)} levels, so the image "
                f"side must be divisible by {factor}; got {h}x{w}"
            )
        self.unet = UNet(
            c,
            cfg.base_channels,
            tuple(cfg.channel_mults),
            cfg.num_res_blocks,
            num_classes=num_classes if cfg.conditional else 0,
            attention=cfg.attention,
            dropout=cfg.dropout,
        )
        self.diffusion = GaussianDiffusion(cfg.schedule, cfg.timesteps)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"unet": torch.optim.AdamW(self.unet.parameters(), lr=self.cfg.lr, weight_decay=0.0)}

    def training_step(self, x: Tensor, y: Tensor, opt: Optimizers) -> dict[str, float]:
        labels = None
        if self.cfg.conditional:
            check_labels(y, self.num_classes)
            # Label dropout to the null class trains the unconditional model jointly
            # (Ho & Salimans 2022, Alg. 1).
            drop = torch.rand(y.shape, device=y.device) < self.cfg.cond_drop_prob
            labels = torch.where(drop, torch.full_like(y, self.num_classes), y)
        loss = self.diffusion.loss(lambda x_t, t: self.unet(x_t, t, labels), x)
        opt.step("unet", loss)
        return {"loss": loss.item()}

    def _eps_fn(self, labels: Tensor | None, guidance_scale: float):
        """eps(x_t, t) for sampling, guided when asked and conditional."""
        if labels is None or guidance_scale == 0:
            return lambda x_t, t: self.unet(x_t, t, labels)
        null = torch.full_like(labels, self.num_classes)

        def guided(x_t: Tensor, t: Tensor) -> Tensor:
            eps = self.unet(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, null]))
            cond, uncond = eps.chunk(2)
            # eps~ = (1 + w) eps(x, c) - w eps(x), Ho & Salimans 2022 eq. 6
            return (1 + guidance_scale) * cond - guidance_scale * uncond

        return guided

    def denoiser(self, labels: Tensor | None) -> Denoiser:
        eps = self._eps_fn(labels, self.cfg.guidance_scale)
        ts = sampling_timesteps(self.diffusion.timesteps, self.cfg.sample_steps)
        return Denoiser(self.diffusion, eps, ts)

    def sample(
        self,
        n: int,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        eta: float | None = None,
    ) -> Tensor:
        """Draw `n` images; keyword overrides of the config's sampler settings.

        Args:
            sampler: "ddim" (eta = `eta`, default the config's) or "ancestral" (eta = 1).
            steps: number of denoising steps (<= timesteps); default `sample_steps`.
            guidance_scale: classifier-free guidance weight w (0 = plain conditional).
            eta: DDIM stochasticity in [0, 1] (ignored by "ancestral").
        """
        sampler = sampler or self.cfg.sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")
        steps = steps or self.cfg.sample_steps
        w = self.cfg.guidance_scale if guidance_scale is None else guidance_scale
        eta = 1.0 if sampler == "ancestral" else (self.cfg.eta if eta is None else eta)
        if w < 0 or not 0 <= eta <= 1:
            raise ValueError(f"need guidance_scale >= 0 and eta in [0, 1], got {w}, {eta}")
        labels = self.default_labels(n, labels)
        shape = (n, *self.image_shape)
        x_T = self.randn(*shape, generator=generator)  # (n, C, H, W)
        with sampling(self):
            x0 = self.diffusion.sample(
                self._eps_fn(labels, w),
                x_T,
                steps,
                eta,
                noise_fn=lambda: self.randn(*shape, generator=generator),
            )
            return signed_to_uint8(x0)

    def generator_parameters(self) -> int:
        return sum(p.numel() for p in self.unet.parameters())
