"""VAE-GAN (Larsen et al. 2016, arXiv 1512.09300): a VAE whose decoder is also a GAN
generator, with the reconstruction error measured on a hidden layer of the
discriminator instead of on pixels.

Losses (paper §2 and Alg. 1), each stepped by its own optimizer:
  encoder:       L_prior + L_llike            (no GAN term reaches the encoder)
  decoder:       gamma * L_llike - L_GAN      (non-saturating form, as in the paper's code)
  discriminator: L_GAN on x (real) and on Dec(Enc(x)) and Dec(z_p) (fake)
where L_llike is a Gaussian log-likelihood of D's hidden features of x given those
of the reconstruction (eq. 8), and L_prior the KL to N(0, I). The paper updates all
three from one forward pass; here the networks are updated in turn (encoder,
decoder, discriminator), each on a fresh forward, because every `opt.step` frees
its graph.

Every image D judges real or fake goes through DiffAugment (Zhao et al. 2020, eq.
3-4) with the probability ADA's controller sets (models/augment.py), in the decoder's
and D's updates; the feature-reconstruction term L_llike compares D's features of the
un-augmented x and Dec(Enc(x)), because it is a likelihood of x, not a judgement D
could overfit. As in the `gan` family, D can also see the batch's spread (minibatch std)
and be held smooth on the reals by a lazy R1 penalty; both act on D's judgement only,
never on the features L_llike compares.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genforge.models.augment import AdaptiveAugment, AugmentConfig
from genforge.models.base import FamilyConfig, GenerativeModel, Optimizers, signed_to_uint8
from genforge.models.common import (
    DiscriminatorConfig,
    LazyR1,
    check_labels,
    gaussian_kl,
    reparameterize,
    sampling,
)
from genforge.models.nets import ConvGenerator, Discriminator, GaussianEncoder
from genforge.sections import Fraction, PosFloat, PosInt


class VaeGanConfig(FamilyConfig, AugmentConfig, DiscriminatorConfig):
    z_dim: PosInt = 32
    base_channels: PosInt = 32
    beta: PosFloat = 1.0  # weight of the KL (prior) term for the encoder
    gamma: PosFloat = 1.0  # weight of the feature-reconstruction term for the decoder
    spectral_norm: bool = True  # on the discriminator
    beta1: Fraction = 0.5  # Adam beta1 of all three optimizers


def feature_nll(fake: Tensor, real: Tensor) -> Tensor:
    """-log N(Dis_l(x) | Dis_l(x~), I) up to a constant, per feature (eq. 8): mean 0.5 * d^2."""
    return 0.5 * (fake.float() - real.float()).pow(2).mean()


class VaeGan(LazyR1, GenerativeModel):
    """Encoder, decoder (= generator), discriminator; optimizers "enc", "dec", "d"."""

    family = "vaegan"
    config_class = VaeGanConfig
    tiny = dict(z_dim=4, base_channels=8, lr=2e-3)
    contract_steps = 300
    main_loss = "loss_d"  # D's loss: it oscillates when training is unstable

    def __init__(self, cfg: VaeGanConfig, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(cfg, image_shape, num_classes)
        c, h, w = self.image_shape
        self.augment = AdaptiveAugment(cfg, cfg.batch_size)
        self.init_lazy_r1()
        k = num_classes if cfg.conditional else 0
        self.encoder = GaussianEncoder(c, (h, w), cfg.base_channels, cfg.z_dim, num_classes=k)
        self.decoder = ConvGenerator(cfg.z_dim, c, (h, w), cfg.base_channels, num_classes=k)
        sn, mbstd = cfg.spectral_norm, cfg.minibatch_std
        self.discriminator = Discriminator(c, (h, w), cfg.base_channels, k, sn, mbstd)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.cfg.beta1, 0.999)
        adam = lambda m: torch.optim.Adam(m.parameters(), lr=self.cfg.lr, betas=betas)  # noqa: E731
        return {"enc": adam(self.encoder), "dec": adam(self.decoder), "d": adam(self.discriminator)}

    def decode(self, z: Tensor, y: Tensor | None) -> Tensor:
        return torch.tanh(self.decoder(z, y))  # (B, C, H, W) in [-1, 1]

    @property
    def latent_dim(self) -> int:
        return self.cfg.z_dim

    def decode_latent(self, z: Tensor, labels: Tensor | None) -> Tensor:
        return self.decode(z, labels)

    def encode(self, x: Tensor, labels: Tensor | None) -> Tensor:
        return self.encoder(x, labels)[0]  # the posterior mean

    def training_step(self, x: Tensor, y: Tensor, opt: Optimizers) -> dict[str, float]:
        if self.cfg.conditional:
            check_labels(y, self.num_classes)
        else:
            y = None
        b, dims = x.shape[0], x[0].numel()
        with torch.no_grad():
            _, feat_real = self.discriminator(x, y)  # target features, no gradient to D

        # Encoder: L_prior + L_llike. Gradients also reach the decoder and D here but
        # only the encoder's parameters are updated (`opt.step` backprops into them).
        mu, logvar = self.encoder(x, y)  # (B, z_dim) each
        z = reparameterize(mu, logvar)
        _, feat_rec = self.discriminator(self.decode(z, y), y)
        kl = gaussian_kl(mu, logvar).mean() / dims  # per pixel, like the VAE's loss scale
        llike = feature_nll(feat_rec, feat_real)
        opt.step("enc", self.cfg.beta * kl + llike)

        # Decoder: gamma * L_llike - L_GAN on reconstructions and prior samples (two
        # separately drawn halves: chunks=2 keeps the minibatch std from mixing them).
        z_p = torch.randn(b, self.cfg.z_dim, device=x.device)
        y2 = None if y is None else torch.cat([y, y])
        fakes = self.decode(torch.cat([z.detach(), z_p]), y2)
        if self.augment.probability > 0:
            logits, _ = self.discriminator(self.augment(fakes), y2, 2)
            _, feats = self.discriminator(fakes[:b], y)  # un-augmented, for L_llike
        else:  # one pass serves both terms
            logits, feats = self.discriminator(fakes, y2, 2)
        llike_dec = feature_nll(feats[:b], feat_real)
        gan_dec = F.softplus(-logits).mean()  # -log D(fake), non-saturating
        opt.step("dec", self.cfg.gamma * llike_dec + gan_dec)

        # Discriminator: real vs reconstructions and prior samples (Alg. 1).
        reg = self.r1_due()
        real = x.detach().requires_grad_(reg)
        logits_real, _ = self.discriminator(self.augment(real), y)
        logits_fake, _ = self.discriminator(self.augment(fakes.detach()), y2, 2)
        loss_d = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
        self.step_d(opt, loss_d, logits_real, real, reg)
        self.augment.observe(logits_real)
        return {
            "kl": kl.item() * dims,
            "llike": llike.item(),
            "loss_dec_gan": gan_dec.item(),
            "loss_d": loss_d.item(),
            "augment_p": self.augment.probability,
        }

    def sample(
        self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        labels = self.default_labels(n, labels)
        z = self.randn(n, self.cfg.z_dim, generator=generator)  # (n, z_dim), z ~ p(z)
        with sampling(self):
            return signed_to_uint8(self.decode(z, labels))

    def generator_parameters(self) -> int:
        return sum(p.numel() for p in self.decoder.parameters())
