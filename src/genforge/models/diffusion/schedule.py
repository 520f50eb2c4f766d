"""Gaussian diffusion: noise schedules, the forward process and the samplers.

Knows nothing about the network: samplers take `eps_fn(x_t, t) -> predicted noise`.
One update rule serves both samplers: the generalised DDIM step (Song et al. 2020,
arXiv 2010.02502 eq. 12) with eta = 0 is DDIM, and with eta = 1 it is DDPM's
ancestral step (its sigma equals the posterior std of Ho et al. 2020 eq. 7 and, without
x_0 clipping, its mean the posterior mean), also on a strided subsequence of
timesteps ("respacing", Nichol & Dhariwal 2021 §4).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

EpsFn = Callable[[Tensor, Tensor], Tensor]


def linear_betas(timesteps: int) -> Tensor:
    """DDPM's linear betas 1e-4 -> 0.02 for T = 1000 (Ho et al. 2020 §4), rescaled to T.

    The rescaling (Nichol & Dhariwal 2021's code) keeps alpha_bar_T near zero for any T;
    below T = 20 it would exceed 1, so betas are capped at 0.999 as for the cosine one.
    """
    scale = 1000.0 / timesteps
    betas = torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    return betas.clamp(max=0.999)


def cosine_betas(timesteps: int, s: float = 0.008) -> Tensor:
    """Cosine schedule, Nichol & Dhariwal 2021 (arXiv 2102.09672) eq. 17, betas <= 0.999."""
    t = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(max=0.999)


def make_betas(schedule: str, timesteps: int) -> Tensor:
    if schedule == "linear":
        return linear_betas(timesteps)
    if schedule == "cosine":
        return cosine_betas(timesteps)
    raise ValueError(f"unknown diffusion schedule {schedule!r}; allowed: 'linear', 'cosine'")


def sampling_timesteps(timesteps: int, steps: int) -> list[int]:
    """`steps` evenly spaced timesteps, descending, always starting at T - 1.

    "Trailing" spacing (Lin et al. 2023, arXiv 2305.08891 table 2): even one step
    starts from pure noise, and steps = T visits every timestep.
    """
    if not 1 <= steps <= timesteps:
        raise ValueError(f"sampling steps must be in [1, {timesteps}], got {steps}")
    return [round((steps - i) * timesteps / steps) - 1 for i in range(steps)]


class GaussianDiffusion(nn.Module):
    """Forward process q(x_t | x_0), the epsilon loss and the generalised DDIM sampler.

    The schedule lives in float32 buffers so it follows the model to its device;
    they are not saved (`persistent=False`) because the config rebuilds them.
    """

    def __init__(self, schedule: str, timesteps: int):
        super().__init__()
        betas = make_betas(schedule, timesteps)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.timesteps = timesteps
        self.register_buffer("betas", betas.float(), persistent=False)
        self.register_buffer("alphas_cumprod", alphas_cumprod.float(), persistent=False)

    def alpha_bar(self, t: Tensor) -> Tensor:
        """alpha_bar_t broadcast to images; t = -1 means "no noise" (alpha_bar = 1)."""
        ab = self.alphas_cumprod[t.clamp_min(0)]
        ab = torch.where(t >= 0, ab, torch.ones_like(ab))
        return ab.view(-1, 1, 1, 1)  # (B, 1, 1, 1)

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps, Ho et al. 2020 eq. 4."""
        ab = self.alpha_bar(t)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def loss(self, eps_fn: EpsFn, x0: Tensor) -> Tensor:
        """Simple epsilon-prediction loss, Ho et al. 2020 eq. 14 (L_simple)."""
        t = torch.randint(0, self.timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        eps = eps_fn(self.q_sample(x0, t, noise), t)
        return (eps.float() - noise).pow(2).mean()

    def step(
        self,
        eps: Tensor,
        x_t: Tensor,
        t: int,
        t_prev: int,
        eta: float,
        noise: Tensor | None,
        clip: bool = True,
    ) -> Tensor:
        """One generalised DDIM update x_t -> x_{t_prev}, arXiv 2010.02502 eq. 12 and 16."""
        b = x_t.shape[0]
        ab = self.alpha_bar(torch.full((b,), t, device=x_t.device))
        ab_prev = self.alpha_bar(torch.full((b,), t_prev, device=x_t.device))
        x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()  # predicted x_0, eq. 12 first term
        if clip:
            # Clip x_0 only, keep the predicted eps (as diffusers' DDIM does): re-deriving
            # eps from the clipped x_0 left visibly noisier DDIM samples on digits.
            x0 = x0.clamp(-1, 1)
        # sigma_t(eta), eq. 16; eta = 1 gives DDPM's posterior std sqrt(beta_tilde)
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
        x_prev = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp_min(0).sqrt() * eps
        if noise is not None and eta > 0:
            x_prev = x_prev + sigma * noise
        return x_prev

    @torch.no_grad()
    def sample(
        self,
        eps_fn: EpsFn,
        x_T: Tensor,
        steps: int,
        eta: float,
        noise_fn: Callable[[], Tensor] | None = None,
    ) -> Tensor:
        """Run the sampler from x_T over `steps` timesteps; `noise_fn` gives fresh noise."""
        ts = sampling_timesteps(self.timesteps, steps)
        x = x_T
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            eps = eps_fn(x, torch.full((x.shape[0],), t, device=x.device, dtype=torch.long))
            last = t_prev < 0
            noise = noise_fn() if (noise_fn is not None and eta > 0 and not last) else None
            x = self.step(eps.float(), x, t, t_prev, eta, noise)
        return x
