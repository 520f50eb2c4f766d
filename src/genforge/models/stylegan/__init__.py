"""StyleGAN2 at small scale: a style-based generator, its truncation trick and style mixing.

Karras et al. 2019 (StyleGAN, arXiv 1812.04948) and 2020 (StyleGAN2, arXiv 1912.04958);
the networks are in networks.py and discriminator.py. Training per batch: one D update
with the non-saturating logistic loss, plus the R1 penalty every `r1_every` steps (lazy
regularisation), then one G update on the same fakes. Style-mixing regularisation and
the tracked average w live here, in the family, because they are about how w is drawn.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from genforge.models.augment import AdaptiveAugment, AugmentConfig
from genforge.models.base import FamilyConfig, GenerativeModel, Optimizers, signed_to_uint8
from genforge.models.common import check_labels, r1_penalty, sampling
from genforge.models.stylegan.discriminator import ResidualDiscriminator
from genforge.models.stylegan.networks import MappingNetwork, SynthesisNetwork
from genforge.sections import Fraction, PosFloat, PosInt

NoiseMode = Literal["random", "const"]


class StyleganConfig(FamilyConfig, AugmentConfig):
    lr: PosFloat = 0.002  # StyleGAN2's G and D rate (with the equalized learning rate)
    z_dim: PosInt = 64
    w_dim: PosInt = 128
    mapping_layers: PosInt = 4
    mapping_lr_mult: PosFloat = 0.01  # 1812.04948 sec. 2 / app. C
    base_channels: PosInt = 32
    beta1: Fraction = 0.0
    beta2: Fraction = 0.99
    style_mixing_prob: Fraction = 0.9  # 1812.04948 sec. 3.1
    r1_gamma: float = 6.0  # on 16 px digits FID 16.6 at 0.01, 8.2 at 0.5, 5.1 at 6, 5.2 at 16
    r1_every: PosInt = 16  # lazy regularisation interval, 1912.04958 sec. 3.1
    w_avg_beta: Fraction = 0.995  # decay of the tracked average w (truncation centre)


class Stylegan(GenerativeModel):
    """Mapping f(z, y) -> w, synthesis g(w_1..w_L, noise) and D(x, y); optimizers "d", "g"."""

    family = "stylegan"
    config_class = StyleganConfig
    tiny = dict(z_dim=8, w_dim=16, mapping_layers=2, base_channels=8, lr=5e-3, r1_every=4)
    contract_steps = 200
    main_loss = "loss_d"  # D's loss: it oscillates when training is unstable

    def __init__(self, cfg: StyleganConfig, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(cfg, image_shape, num_classes)
        if not math.isfinite(cfg.r1_gamma) or cfg.r1_gamma < 0:
            raise ValueError(f"stylegan.r1_gamma must be a finite number >= 0, got {cfg.r1_gamma}")
        c, h, w = self.image_shape
        k = num_classes if cfg.conditional else 0
        self.mapping = MappingNetwork(
            cfg.z_dim, cfg.w_dim, cfg.mapping_layers, k, cfg.mapping_lr_mult
        )
        self.synthesis = SynthesisNetwork(cfg.w_dim, self.image_shape, cfg.base_channels)
        self.discriminator = ResidualDiscriminator(c, (h, w), cfg.base_channels, k)
        self.augment = AdaptiveAugment(cfg, cfg.batch_size)  # ADA's own setting (2006.06676)
        # One average w per class when conditional: truncating towards the class's own
        # centre keeps the label at psi = 0 (as StyleGAN-XL does, arXiv 2202.00273).
        self.register_buffer("w_avg", torch.zeros(max(k, 1), cfg.w_dim))
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.cfg
        # Lazy R1 adds its gradient every r1_every steps: shrink D's lr and betas by
        # c = N / (N + 1) so their effective values stay put (StyleGAN2-ADA training_loop).
        c = cfg.r1_every / (cfg.r1_every + 1) if cfg.r1_gamma > 0 else 1.0
        g_params = [*self.mapping.parameters(), *self.synthesis.parameters()]
        return {
            "d": torch.optim.Adam(
                self.discriminator.parameters(),
                lr=cfg.lr * c,
                betas=(cfg.beta1**c, cfg.beta2**c),
            ),
            "g": torch.optim.Adam(g_params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2)),
        }

    # ------------------------------------------------------------------ w space
    @property
    def num_ws(self) -> int:
        """How many per-layer styles the synthesis network takes (16 px: 6)."""
        return self.synthesis.num_ws

    @property
    def latent_dim(self) -> int:
        return self.cfg.z_dim

    def _rows(self, y: Tensor | None, n: int) -> Tensor:
        return y if y is not None else torch.zeros(n, dtype=torch.long, device=self.device)

    def truncate(self, w: Tensor, y: Tensor | None, psi: float) -> Tensor:
        """w' = w_avg + psi (w - w_avg), the truncation trick (1812.04948 eq. 3 / app. B)."""
        if psi == 1.0:
            return w
        centre = self.w_avg[self._rows(y, w.shape[0])]  # (B, w_dim)
        return centre.lerp(w, psi)

    def _track_w_avg(self, w: Tensor, y: Tensor | None) -> None:
        """w_avg <- lerp(batch mean of w, w_avg, beta), per class present in the batch."""
        rows = self._rows(y, w.shape[0])
        k = self.w_avg.shape[0]
        sums = torch.zeros_like(self.w_avg).index_add_(0, rows, w.detach().float())
        counts = torch.bincount(rows, minlength=k).to(sums.dtype)[:, None]  # (K, 1)
        mean = sums / counts.clamp(min=1)
        updated = mean.lerp(self.w_avg, self.cfg.w_avg_beta)
        self.w_avg.copy_(torch.where(counts > 0, updated, self.w_avg))

    def _ws(self, w: Tensor) -> Tensor:
        return w[:, None, :].expand(-1, self.num_ws, -1)  # (B, num_ws, w_dim)

    def _noise(self, n: int, noise: str, generator: torch.Generator | None):
        if noise == "const":
            return self.synthesis.const_noise(n)
        if noise == "random":
            return self.synthesis.random_noise(n, generator)
        raise ValueError(f"stylegan noise must be 'random' or 'const', got {noise!r}")

    def truncation(self, psi: float) -> dict[str, Any]:
        return {"psi": self._check_psi(psi)}

    def _check_psi(self, psi: float) -> float:
        if not isinstance(psi, int | float) or not math.isfinite(psi):
            raise ValueError(f"stylegan psi (truncation) must be a finite number, got {psi!r}")
        return float(psi)

    def _generate(self, z: Tensor, labels: Tensor | None, psi: float, noise: list[Tensor]):
        w = self.truncate(self.mapping(z, labels), labels, self._check_psi(psi))
        return self.synthesis(self._ws(w), noise).clamp(-1, 1)  # (B, C, H, W) in [-1, 1]

    def decode_latent(
        self, z: Tensor, labels: Tensor | None, psi: float = 1.0, noise: NoiseMode = "const"
    ) -> Tensor:
        """z (B, z_dim) -> images in [-1, 1]; the const noise keeps interpolations smooth."""
        return self._generate(z, labels, psi, self._noise(z.shape[0], noise, None))

    # ----------------------------------------------------------------- training
    def _mixed_ws(self, z: Tensor, y: Tensor | None) -> Tensor:
        """Styles for training: with probability style_mixing_prob, the layers from a random
        crossover on come from a second latent (mixing regularisation, 1812.04948 sec. 3.1)."""
        w = self.mapping(z, y)
        if self.training and torch.is_grad_enabled():
            self._track_w_avg(w, y)
        ws = self._ws(w)
        if torch.rand(()) < self.cfg.style_mixing_prob:
            cut = int(torch.randint(1, self.num_ws, ()))
            w2 = self.mapping(torch.randn_like(z), y)
            ws = torch.cat([ws[:, :cut], self._ws(w2)[:, cut:]], dim=1)
        return ws

    def training_step(self, x: Tensor, y: Tensor, opt: Optimizers) -> dict[str, float]:
        if self.cfg.conditional:
            check_labels(y, self.num_classes)
        else:
            y = None
        b, cfg = x.shape[0], self.cfg
        y2 = None if y is None else torch.cat([y, y])
        reg = cfg.r1_gamma > 0 and int(self.steps_done) % cfg.r1_every == 0
        fake = self.synthesis(self._mixed_ws(torch.randn(b, cfg.z_dim, device=x.device), y))
        real = x.detach().requires_grad_(reg)  # R1 through the augmentation, as ADA's code
        logits = self.discriminator(self.augment(torch.cat([real, fake.detach()])), y2, chunks=2)
        real_logit, fake_logit = logits.chunk(2)  # (B,) each
        # Non-saturating logistic loss (Goodfellow et al. 2014; StyleGAN2 app. B)
        loss_d = F.softplus(fake_logit).mean() + F.softplus(-real_logit).mean()
        logs = {"loss_d": loss_d.item()}
        if reg:
            r1 = r1_penalty(real_logit, real)
            # gamma/2 * R1, times the interval so the lazy penalty weighs the same (sec. 3.1)
            loss_d = loss_d + r1 * (cfg.r1_gamma / 2) * cfg.r1_every
            self.last_r1 = r1.item()
        opt.step("d", loss_d)
        self.augment.observe(real_logit)
        # The fakes' graph through G is still intact: reuse it for G's update.
        fake_logit_g = self.discriminator(self.augment(fake), y)
        loss_g = F.softplus(-fake_logit_g).mean()
        opt.step("g", loss_g)
        self.steps_done += 1
        return {
            **logs,
            "loss_g": loss_g.item(),
            "r1": getattr(self, "last_r1", 0.0),  # the last computed penalty (held between)
            "d_real": real_logit.mean().item(),
            "d_fake": fake_logit.mean().item(),
            "augment_p": self.augment.probability,
        }

    # ----------------------------------------------------------------- sampling
    def sample(
        self,
        n: int,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
        psi: float = 1.0,
        noise: NoiseMode = "const",
    ) -> Tensor:
        """n images as uint8 (n, C, H, W); `psi` < 1 truncates towards the average w,
        noise "const" uses each layer's fixed noise, "random" draws it from `generator`."""
        labels = self.default_labels(n, labels)
        z = self.randn(n, self.cfg.z_dim, generator=generator)  # (n, z_dim), then any noise
        with sampling(self):
            return signed_to_uint8(self._generate(z, labels, psi, self._noise(n, noise, generator)))

    def style_mix(
        self,
        z_coarse: Tensor,
        z_fine: Tensor,
        crossover: int,
        labels: Tensor | None = None,
        psi: float = 1.0,
    ) -> Tensor:
        """Images whose styles [0, crossover) come from z_coarse and [crossover, num_ws)
        from z_fine (1812.04948 sec. 3.1, Fig. 3), as uint8 (B, C, H, W), const noise.
        crossover = num_ws gives z_coarse's sample, 0 gives z_fine's."""
        if not 0 <= crossover <= self.num_ws:
            raise ValueError(f"crossover must be in [0, {self.num_ws}], got {crossover}")
        if z_coarse.shape != z_fine.shape:
            raise ValueError(f"z shapes differ: {tuple(z_coarse.shape)} vs {tuple(z_fine.shape)}")
        n = z_coarse.shape[0]
        labels = self.default_labels(n, labels)
        psi = self._check_psi(psi)
        with sampling(self):
            wc, wf = (
                self._ws(self.truncate(self.mapping(z.to(self.device), labels), labels, psi))
                for z in (z_coarse, z_fine)
            )
            ws = torch.cat([wc[:, :crossover], wf[:, crossover:]], dim=1)
            return signed_to_uint8(self.synthesis(ws, self.synthesis.const_noise(n)).clamp(-1, 1))

    def generator_parameters(self) -> int:
        return sum(p.numel() for m in (self.mapping, self.synthesis) for p in m.parameters())
