"""What the page can do with a model, asked of the model object (never its family name).

- a latent: the model offers `decode_latent` (a z -> image map of `latent_dim`); then
  interpolation between two seeds and the truncation trick apply;
- sampler steps: `sample()` takes `steps=` (a denoising sampler), bounded by
  `cfg.timesteps`;
- inpainting: the model exposes its denoiser (`diffusion` and `_eps_fn`), which RePaint
  needs (report.analyses.repaint).
Every function returns uint8 images (N, C, H, W), seeded by the caller's seed.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor

from genforge.models.base import signed_to_uint8
from genforge.models.common import sampling


def latent_decoder(model):
    """z (B, latent_dim), labels -> images in [-1, 1], or None when the model has no latent
    (asked of the model: `GenerativeModel.offers("decode_latent")`)."""
    return model.decode_latent if model.offers("decode_latent") else None


def takes_steps(model) -> bool:
    return "steps" in inspect.signature(model.sample).parameters


def can_inpaint(model) -> bool:
    return hasattr(model, "diffusion") and hasattr(model, "_eps_fn")


def capabilities(model) -> dict[str, Any]:
    """What the page offers for this model: the controls it shows."""
    caps: dict[str, Any] = {
        "conditional": bool(model.cfg.conditional),
        "num_classes": int(model.num_classes),
        "image_shape": list(model.image_shape),
        "latent": latent_decoder(model) is not None,
        "truncation": latent_decoder(model) is not None,
        "psi": model.offers("truncation"),  # w-space truncation (stylegan), psi in [0, 1]
        "steps": None,
        "inpaint": can_inpaint(model),
    }
    if takes_steps(model):
        default = getattr(model.cfg, "sample_steps", None)
        caps["steps"] = {"default": default, "max": getattr(model.cfg, "timesteps", default)}
    return caps


def labels_for(model, n: int, label: int | None) -> Tensor | None:
    if not model.cfg.conditional:
        return None
    if label is None:
        return torch.arange(n) % model.num_classes  # classes in turn, as the pyfunc model does
    return torch.full((n,), int(label))


def truncated_normal(n: int, dim: int, psi: float, generator: torch.Generator) -> Tensor:
    """N(0, I) draws with every |z_i| > psi resampled: the truncation trick (Brock et al.
    2018, BigGAN, arXiv 1809.11096 sec. 3.1) trades diversity for fidelity as psi falls."""
    z = torch.randn(n, dim, generator=generator)
    for _ in range(1000):
        out = z.abs() > psi
        if not out.any():
            break
        z[out] = torch.randn(int(out.sum()), generator=generator)
    return z


def grid(
    model,
    n: int,
    seed: int,
    label: int | None,
    truncation: float | None = None,
    steps: int | None = None,
    psi: float | None = None,
) -> Tensor:
    """n images of `label` (None: classes in turn) from `seed`; truncation < 3 and steps
    only where the model has them. Without either, exactly `model.sample`'s draws."""
    gen = torch.Generator().manual_seed(seed)
    labels = labels_for(model, n, label)
    with sampling(model):
        if truncation is not None:
            decode = latent_decoder(model)
            z = truncated_normal(n, model.latent_dim, truncation, gen).to(model.device)
            y = None if labels is None else labels.to(model.device)
            return signed_to_uint8(decode(z, y))
        kwargs = {"steps": steps} if steps is not None else {}
        if psi is not None:  # the model's own truncation (model.truncation), e.g. of w
            kwargs.update(model.truncation(psi))
        return model.sample(n, labels=labels, generator=gen, **kwargs)


def interpolate(model, seed_a: int, seed_b: int, label: int | None, ts: list[float]) -> Tensor:
    """Images along the great circle between the latents of two seeds, at each t in ts."""
    from genforge.report.analyses import slerp

    decode = latent_decoder(model)
    za = torch.randn(1, model.latent_dim, generator=torch.Generator().manual_seed(seed_a))
    zb = torch.randn(1, model.latent_dim, generator=torch.Generator().manual_seed(seed_b))
    z = torch.cat([slerp(za, zb, float(t)) for t in ts]).to(model.device)  # (len(ts), z_dim)
    labels = labels_for(model, len(ts), 0 if label is None and model.cfg.conditional else label)
    with sampling(model):
        return signed_to_uint8(decode(z, None if labels is None else labels.to(model.device)))


def inpaint(model, source: Tensor, label: int | None, seed: int, draws: int) -> Tensor:
    """[source, masked source, `draws` inpaintings] of one uint8 (C, H, W) image, the
    centre square unknown (report.analyses.masks), by RePaint with the model's denoiser."""
    from genforge.report.analyses import masks, repaint

    x0 = (source.float() / 127.5 - 1).unsqueeze(0).repeat(draws, 1, 1, 1)  # (draws, C, H, W)
    mask = masks(1, model.image_shape).repeat(draws, 1, 1, 1)
    labels = labels_for(model, draws, label)
    gen = torch.Generator().manual_seed(seed)
    with sampling(model):
        out = repaint(model, x0, mask, None if labels is None else labels.to(model.device), gen)
    return torch.cat(
        [signed_to_uint8(x0[:1]), signed_to_uint8(x0[:1] * mask[:1]), signed_to_uint8(out.cpu())]
    )
