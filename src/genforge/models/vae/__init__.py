"""Convolutional β-VAE (Kingma & Welling 2013; Higgins et al. 2017) with a discretized
logistic decoder, so `bits_per_dim` is the negative ELBO of the 8-bit data.

Conditional: a label embedding joins the encoder's features and the decoder's z
(a conditional VAE, Sohn et al. 2015). Samples are the decoder's mean for z ~ N(0, I):
drawing pixel noise from p(x | z) would only add salt-and-pepper noise to the grid.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genforge.models.base import FamilyConfig, GenerativeModel, Optimizers, signed_to_uint8
from genforge.models.common import check_labels, gaussian_kl, sampling
from genforge.models.nets import ConvGenerator, GaussianEncoder
from genforge.models.vae.likelihood import discretized_logistic_nll, to_bits_per_dim
from genforge.sections import PosFloat, PosInt

MIN_LOG_SCALE = -7.0  # keeps the logistic from collapsing onto one bin (PixelCNN++ code)
# Initial log-scale: about 6 bins wide. A scale of 1 (bias 0) is flat over [-1, 1], which
# gives the mean almost no gradient and made early training crawl.
INIT_LOG_SCALE = -3.0


class VaeConfig(FamilyConfig):
    z_dim: PosInt = 16
    base_channels: PosInt = 32
    beta: PosFloat = 1.0


class Vae(GenerativeModel):
    """Encoder q(z | x, y), decoder p(x | z, y) = discretized logistic; optimizer "vae"."""

    family = "vae"
    config_class = VaeConfig
    tiny = dict(z_dim=4, base_channels=8, lr=1e-2)
    contract_steps = 150

    def __init__(self, cfg: VaeConfig, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(cfg, image_shape, num_classes)
        c, h, w = self.image_shape
        k = num_classes if cfg.conditional else 0
        self.encoder = GaussianEncoder(c, (h, w), cfg.base_channels, cfg.z_dim, num_classes=k)
        # 2C outputs per pixel: the logistic's mean and log-scale.
        self.decoder = ConvGenerator(cfg.z_dim, 2 * c, (h, w), cfg.base_channels, num_classes=k)
        with torch.no_grad():
            self.decoder.net[-1].bias[c:].fill_(INIT_LOG_SCALE)  # the log-scale outputs

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.cfg.lr)}

    def decode(self, z: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        """z (B, z_dim) -> logistic mean in [-1, 1] and log-scale, each (B, C, H, W)."""
        mean, log_scale = self.decoder(z, y).chunk(2, dim=1)
        return torch.tanh(mean), log_scale.clamp_min(MIN_LOG_SCALE)

    @property
    def latent_dim(self) -> int:
        return self.cfg.z_dim

    def decode_latent(self, z: Tensor, labels: Tensor | None) -> Tensor:
        return self.decode(z, labels)[0]  # the logistic's mean, as `sample` draws

    def encode(self, x: Tensor, labels: Tensor | None) -> Tensor:
        return self.encoder(x, labels)[0]  # the posterior mean

    def negative_elbo(
        self, x: Tensor, y: Tensor | None, beta: float, eps: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Reconstruction NLL and KL per image in nats, each (B,); `eps` fixes the z draw."""
        mu, logvar = self.encoder(x, y)  # (B, z_dim) each
        if eps is None:
            eps = torch.randn_like(mu)
        z = mu + eps * (0.5 * logvar).exp()  # reparameterisation, arXiv 1312.6114 eq. 10
        mean, log_scale = self.decode(z, y)
        return discretized_logistic_nll(x, mean, log_scale), beta * gaussian_kl(mu, logvar)

    def _labels(self, y: Tensor) -> Tensor | None:
        if not self.cfg.conditional:
            return None
        check_labels(y, self.num_classes)
        return y

    def training_step(self, x: Tensor, y: Tensor, opt: Optimizers) -> dict[str, float]:
        dims = x[0].numel()
        nll, kl = self.negative_elbo(x, self._labels(y), self.cfg.beta)
        # Per-dimension scale keeps the learning rate independent of the image size.
        loss = (nll + kl).mean() / dims
        opt.step("vae", loss)
        return {
            "loss": loss.item(),
            "recon_bpd": to_bits_per_dim(nll.mean(), dims).item(),
            "kl_nats": kl.mean().item() / self.cfg.beta,
        }

    def bits_per_dim(self, x: Tensor, y: Tensor) -> float:
        """Negative ELBO (β = 1, one posterior sample drawn from a fixed seed) in bits/dim."""
        y = self._labels(y)
        with sampling(self):
            gen = torch.Generator().manual_seed(0)
            eps = self.randn(x.shape[0], self.cfg.z_dim, generator=gen)
            nll, kl = self.negative_elbo(x.to(self.device), y, 1.0, eps=eps)
            return to_bits_per_dim((nll + kl).mean(), x[0].numel()).item()

    def sample(
        self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        labels = self.default_labels(n, labels)
        z = self.randn(n, self.cfg.z_dim, generator=generator)  # (n, z_dim)
        with sampling(self):
            mean, _ = self.decode(z, labels)
            return signed_to_uint8(mean)

    def generator_parameters(self) -> int:
        return sum(p.numel() for p in self.decoder.parameters())
