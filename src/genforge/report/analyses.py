"""Analyses the report runs on trained checkpoints: latent interpolations, diffusion
inpainting and VAE anomaly scores. Each returns PNG bytes and numbers; the caller
turns a missing checkpoint into "not available".
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from genforge.config import DataConfig
from genforge.data.images import fit_array
from genforge.data.sources import load_source
from genforge.grids import grid_image, png_bytes
from genforge.models.base import signed_to_uint8
from genforge.models.common import sampling

INTERP_STEPS = 8
INTERP_ROWS = 6
MIX_SOURCES = 5  # style-mixing grid: k coarse x k fine sources
INPAINT_IMAGES = 8
INPAINT_DRAWS = 2
RESAMPLE = 3  # RePaint's jumps per step: re-noise and denoise again to harmonise the seam


def to_float(x_uint8: np.ndarray) -> Tensor:
    """uint8 NHWC (numpy) -> float NCHW in [-1, 1]."""
    return torch.from_numpy(x_uint8).permute(0, 3, 1, 2).float() / 127.5 - 1


def pick_pairs(y: np.ndarray, rows: int, conditional: bool, seed: int = 0) -> list[tuple[int, int]]:
    """Index pairs of test images; same-class pairs for conditional models (one per class)."""
    rng = np.random.default_rng(seed)
    if not conditional:
        idx = rng.permutation(len(y))[: 2 * rows]
        return [(int(idx[2 * i]), int(idx[2 * i + 1])) for i in range(len(idx) // 2)]
    pairs = []
    for c in np.unique(y)[:rows]:
        members = rng.permutation(np.flatnonzero(y == c))
        if len(members) >= 2:
            pairs.append((int(members[0]), int(members[1])))
    return pairs


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation between Gaussian latents (White 2016, arXiv 1609.04468):
    unlike a straight line it keeps the norm typical of N(0, I) samples."""
    cos = (a * b).sum(-1, keepdim=True) / (
        a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True)
    )
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate(model, x_test: np.ndarray, y_test: np.ndarray, seed: int = 0) -> bytes:
    """A grid of latent interpolations, one row per pair, for any model with a latent.

    A model with an encoder (VAE, VAE-GAN) encodes two real test images (same class when
    conditional) and walks linearly between their latents; the row starts and ends with
    the real images. Without one (GAN) it walks along a great circle between two prior
    draws.
    """
    if not model.offers("decode_latent"):
        raise ValueError(f"{model.family} has no latent space to interpolate")
    cond, encodes = model.cfg.conditional, model.offers("encode")
    pairs = pick_pairs(y_test, INTERP_ROWS, cond, seed)
    ts = torch.linspace(0, 1, INTERP_STEPS)
    rows = []
    with sampling(model):
        gen = torch.Generator().manual_seed(seed)
        for a, b in pairs:
            y = torch.tensor([int(y_test[a])]).to(model.device) if cond else None
            ys = None if y is None else y.repeat(len(ts))
            if not encodes:
                za, zb = (model.randn(1, model.latent_dim, generator=gen) for _ in range(2))
                zs = torch.cat([slerp(za, zb, float(t)) for t in ts])
                rows.append(model.decode_latent(zs, ys))
                continue
            x = to_float(x_test[[a, b]]).to(model.device)  # (2, C, H, W)
            mu = model.encode(x, None if y is None else y.repeat(2))
            zs = torch.stack([(1 - t) * mu[0] + t * mu[1] for t in ts])  # (steps, latent_dim)
            rows.append(torch.cat([x[:1], model.decode_latent(zs, ys), x[1:]]))
    ncol = rows[0].shape[0]
    return png_bytes(grid_image(signed_to_uint8(torch.cat(rows)), nrow=ncol, scale=3))


def style_mixing(model, seed: int = 0, k: int = MIX_SOURCES) -> bytes:
    """A style-mixing grid (Karras et al. 2019, arXiv 1812.04948 sec. 3.1, Fig. 3): the top
    row holds k samples (the fine-style sources), the left column k more (the coarse-style
    sources), and each cell the coarse styles (the first half of the per-layer styles,
    lowest resolutions) of its row with the fine styles of its column. Conditional models
    draw every cell with its row's class."""
    if not model.offers("style_mix"):
        raise ValueError(f"{model.family} has no per-layer styles to mix")
    gen = torch.Generator().manual_seed(seed)
    z_coarse, z_fine = (model.randn(k, model.latent_dim, generator=gen) for _ in range(2))
    crossover = model.num_ws // 2
    rows_y = torch.arange(k) % model.num_classes if model.cfg.conditional else None
    fine = model.style_mix(z_fine, z_fine, model.num_ws, rows_y)  # the column sources as drawn
    coarse = model.style_mix(z_coarse, z_coarse, model.num_ws, rows_y)
    cells = [torch.zeros_like(fine[:1]), fine]
    for i in range(k):
        y = None if rows_y is None else rows_y[i].repeat(k)
        mixed = model.style_mix(z_coarse[i : i + 1].repeat(k, 1), z_fine, crossover, y)
        cells += [coarse[i : i + 1], mixed]
    return png_bytes(grid_image(torch.cat(cells), nrow=k + 1, scale=3))


def masks(n: int, shape: tuple[int, int, int]) -> Tensor:
    """1 = known pixel. Alternating a centre square (half the side) and the lower half."""
    c, h, w = shape
    m = torch.ones(n, 1, h, w)
    for i in range(n):
        if i % 2 == 0:
            m[i, :, h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2] = 0
        else:
            m[i, :, h // 2 :, :] = 0
    return m


@torch.no_grad()
def repaint(
    model, x0: Tensor, mask: Tensor, labels: Tensor | None, generator: torch.Generator
) -> Tensor:
    """Inpaint the unknown region (mask 0) of `x0` (B, C, H, W in [-1, 1]) with RePaint.

    Lugmayr et al. 2022 (arXiv 2201.09865) Alg. 1: at each reverse step the known region
    is replaced by the forward-noised original q(x_{t-1} | x_0) (eq. 8) and the unknown
    region comes from the model's ancestral step; each step is resampled RESAMPLE times
    by re-noising x_{t-1} back to x_t (eq. 9, on the strided timesteps here).
    """
    # The model's own (optionally guided) noise prediction and process, as `sample` uses them.
    diff, eps_fn, ts = model.denoiser(labels)
    dev = model.device
    x0, mask = x0.to(dev), mask.to(dev)
    noise = lambda: model.randn(*x0.shape, generator=generator)  # noqa: E731
    x = noise()  # x_T
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        tb = torch.full((x.shape[0],), t, device=dev, dtype=torch.long)
        tb_prev = torch.full_like(tb, t_prev)
        for u in range(RESAMPLE):
            last = t_prev < 0
            unknown = diff.step(eps_fn(x, tb).float(), x, t, t_prev, 1.0, None if last else noise())
            known = x0 if last else diff.q_sample(x0, tb_prev, noise())
            x = mask * known + (1 - mask) * unknown
            if u + 1 < RESAMPLE and not last:
                # back to x_t ~ q(x_t | x_{t_prev}) = N(sqrt(ab_t / ab_prev) x, 1 - ab_t / ab_prev)
                ratio = diff.alpha_bar(tb) / diff.alpha_bar(tb_prev)
                x = ratio.sqrt() * x + (1 - ratio).sqrt() * noise()
    return x


def inpaint(model, x_test: np.ndarray, y_test: np.ndarray, seed: int = 0) -> dict:
    """Inpaint masked test images; return the grid PNG and the mean absolute error in the holes.

    Rows: originals, masked inputs (holes grey), then INPAINT_DRAWS inpainted draws.
    The error (0-255 scale) is compared with filling the hole by the known pixels' mean.
    """
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y_test))[:INPAINT_IMAGES]
    x0 = to_float(x_test[idx])  # (n, C, H, W)
    labels = torch.from_numpy(y_test[idx]).to(model.device) if model.cfg.conditional else None
    mask = masks(len(idx), model.image_shape)
    gen = torch.Generator().manual_seed(seed)
    with sampling(model):
        draws = [repaint(model, x0, mask, labels, gen).cpu() for _ in range(INPAINT_DRAWS)]
    hole = (1 - mask).expand_as(x0)
    err = sum(((d - x0).abs() * hole).sum() for d in draws) / (len(draws) * hole.sum()) * 127.5
    known_mean = (x0 * mask).sum(dim=(2, 3), keepdim=True) / mask.sum(dim=(2, 3), keepdim=True)
    base = ((known_mean - x0).abs() * hole).sum() / hole.sum() * 127.5
    masked = x0 * mask  # holes at 0 = mid grey
    grid = signed_to_uint8(torch.cat([x0, masked, *draws]))
    return {
        "png": png_bytes(grid_image(grid, nrow=len(idx), scale=3)),
        "hole_mae": float(err),
        "mean_fill_mae": float(base),
        "images": len(idx),
        "steps": len(model.denoiser(None).timesteps),
        "resample": RESAMPLE,
    }


def ood_images(data: DataConfig, source: str, n: int, seed: int = 0) -> np.ndarray:
    """`n` images of another embedded source, converted to `data`'s size and channels."""
    other = DataConfig(source=source, image_size=data.image_size, channels=data.channels)
    x = load_source(other).x
    pick = np.random.default_rng(seed).permutation(len(x))[:n]
    return fit_array(x[pick], data.image_size, data.channels)


@torch.no_grad()
def vae_bits_per_dim(model, x_uint8: np.ndarray, batch: int = 256, seed: int = 0) -> np.ndarray:
    """Per-image negative ELBO in bits/dim (one posterior draw, fixed seed).

    A conditional VAE is scored by its label-marginal bound,
    -log p(x) <= -log (1/K) sum_y exp(-ELBO(x, y)), so test and OOD images are scored
    alike without their labels.
    """
    if not hasattr(model, "negative_elbo"):
        raise ValueError(f"anomaly scores need a model with an ELBO (vae), got {model.family}")
    out = []
    gen = torch.Generator().manual_seed(seed)
    with sampling(model):
        for s in range(0, len(x_uint8), batch):
            x = to_float(x_uint8[s : s + batch]).to(model.device)
            eps = model.randn(x.shape[0], model.cfg.z_dim, generator=gen)
            if model.cfg.conditional:
                k = model.num_classes
                terms = []
                for c in range(k):
                    y = torch.full((x.shape[0],), c, device=model.device, dtype=torch.long)
                    nll, kl = model.negative_elbo(x, y, 1.0, eps=eps)
                    terms.append(-(nll + kl))
                nats = -(torch.logsumexp(torch.stack(terms), 0) - math.log(k))
            else:
                nll, kl = model.negative_elbo(x, None, 1.0, eps=eps)
                nats = nll + kl
            out.append((nats / (x[0].numel() * math.log(2))).cpu().numpy())
    return np.concatenate(out)


def anomaly(model, data: DataConfig, x_test: np.ndarray, n: int, ood_source: str | None) -> dict:
    """VAE bits/dim on in-distribution test images vs another source; AUROC of the score."""
    from sklearn.metrics import roc_auc_score

    source = ood_source or ("shapes" if data.source == "digits" else "digits")  # as studies
    if source == data.source:
        raise ValueError(
            f"report.ood_source {source!r} is the training source itself; pick another"
        )
    idx = np.random.default_rng(0).permutation(len(x_test))[:n]
    x_id, x_ood = x_test[idx], ood_images(data, source, n)
    s_id, s_ood = vae_bits_per_dim(model, x_id), vae_bits_per_dim(model, x_ood)
    truth = np.r_[np.zeros(len(s_id)), np.ones(len(s_ood))]
    auroc = float(roc_auc_score(truth, np.r_[s_id, s_ood]))
    return {
        "ood_source": source,
        "auroc": auroc,
        "id_scores": s_id.tolist(),
        "ood_scores": s_ood.tolist(),
        "id_mean": float(s_id.mean()),
        "ood_mean": float(s_ood.mean()),
    }
