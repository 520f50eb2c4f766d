"""Calibration references: image sets of known quality, scored like every candidate.

They give each dataset its own scale (see calibration.py) and prove that the
features can tell good from bad on this data:

- floor: the test split scored as if it were generated, against the train split —
  what a perfect model that never saw those images would get. It holds
  min(n_samples, test size) images, so with small test splits its sample count is
  lower than the candidates' (recorded as its `n_samples`); its `label_accuracy` is
  the featurizer's accuracy on those images. Its data-copying statistic compares one
  half of the test split with the other (the whole split against itself is 0 by
  construction).
- blur: the floor's images under a Gaussian blur of sigma = side / 16 (1 px at 16 px):
  slightly wrong, and equally so at any resolution.
- shuffled: the floor's images with their pixel positions permuted (one random
  permutation per image, shared by the channels): the right colours, no structure.
- one_class: test images of the most frequent class only (datasets with classes): a
  mode-collapsed model.
- memoriser: copies of training images — perfect on every fidelity metric, caught
  only by the data-copying test.
- gaussian: every pixel drawn independently from a Gaussian fitted to that pixel on
  the train split — right first moments, no structure.
- noise: uniform random pixels.

Each is computed once per data version, extractor and settings and then read from a
JSON file in the cache folder (key: see cache.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torchvision.transforms.functional as TF
from torch import Tensor

from genforge.config import EvaluateConfig
from genforge.evaluation.cache import cache_name, read_json, write_json
from genforge.evaluation.copying import copying_statistic
from genforge.evaluation.scoring import Judge, load_judge

MIN_SET = 10  # the one-class reference needs this many test images of its class
BLUR_SHARE = 16  # the blur reference's sigma is the image side / 16
KINDS = ("floor", "blur", "shuffled", "one_class", "memoriser", "gaussian", "noise")


def pixel_moments(train: Tensor, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Per-pixel mean and (unbiased) std over uint8 images, two passes in chunks: no
    float64 copy of the whole split (1.2 GB for 60k 32x32 RGB images)."""
    total = torch.zeros(train.shape[1:], dtype=torch.float64)
    for part in train.split(chunk):
        total += part.double().sum(0)
    mean = total / len(train)
    squares = torch.zeros_like(mean)
    for part in train.split(chunk):
        squares += ((part.double() - mean) ** 2).sum(0)
    return mean, (squares / max(len(train) - 1, 1)).sqrt()


def gaussian_images(train: Tensor, n: int, seed: int) -> Tensor:
    """`n` images with each pixel ~ N(mean, std) of that pixel over `train` (uint8 NCHW)."""
    mean, std = pixel_moments(train)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn((n, *train.shape[1:]), generator=gen, dtype=torch.float64)
    return (mean + std * z).round().clamp(0, 255).to(torch.uint8)


def noise_images(shape: tuple[int, ...], n: int, seed: int) -> Tensor:
    """`n` images of independent uniform pixels in 0..255."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8)


def floor_images(judge: Judge, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """min(n, test size) test images (a seeded subset when n is smaller) and their labels."""
    x, y = judge.test
    if n < len(x):
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
        x, y = x[idx.sort().values], y[idx.sort().values]
    return x, y


def blur_sigma(images: Tensor) -> float:
    """The blur reference's sigma: 1/16 of the image side (1 px at 16 px, 2 px at 32 px),
    so it removes the same share of the detail at any resolution."""
    return min(images.shape[-2:]) / BLUR_SHARE


def blurred(images: Tensor) -> Tensor:
    """A Gaussian blur (sigma `blur_sigma`, kernel out to 2 sigma) of uint8 images (N, C, H, W)."""
    sigma = blur_sigma(images)
    k = 2 * math.ceil(2 * sigma) + 1
    out = TF.gaussian_blur(images.float(), kernel_size=[k, k], sigma=[sigma, sigma])
    return out.round().clamp(0, 255).to(torch.uint8)


def shuffled(images: Tensor, seed: int) -> Tensor:
    """Each image with its pixel positions randomly permuted (channels move together)."""
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w = images.shape
    flat = images.reshape(n, c, h * w)
    perm = torch.argsort(torch.rand(n, h * w, generator=gen), dim=1)  # (N, H*W)
    return flat.gather(2, perm[:, None, :].expand(n, c, h * w)).reshape(n, c, h, w)


def one_class_images(judge: Judge, n: int) -> tuple[Tensor, Tensor] | None:
    """Up to `n` test images of the most frequent test class; None with a single class
    or fewer than MIN_SET images of it (too few to score)."""
    x, y = judge.test
    if judge.meta["num_classes"] < 2 or len(y) == 0:
        return None
    top = int(torch.bincount(y).argmax())
    keep = (y == top).nonzero().flatten()[:n]
    return (x[keep], y[keep]) if len(keep) >= MIN_SET else None


def memoriser_images(judge: Judge, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """`n` training images (a seeded choice; repeated only if the split is smaller)."""
    x, y = judge.train
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=gen)[:n]
    if len(idx) < n:
        idx = torch.randint(0, len(x), (n,), generator=gen)
    return x[idx], y[idx]


def floor_copying(judge: Judge, seed: int) -> float | None:
    """C_T of one half of the test split against the other: real data's own value."""
    test_f = judge.test_features
    half = torch.randperm(len(test_f), generator=torch.Generator().manual_seed(seed))
    a, b = test_f[half[: len(half) // 2]], test_f[half[len(half) // 2 :]]
    return copying_statistic(judge.train_features, a, b, seed, fit_max=judge.cfg.reference_max)


def settings(cfg: EvaluateConfig, n_samples: int, seed: int) -> dict[str, Any]:
    """Everything besides data and extractor that the reference numbers depend on."""
    keys = ("bootstrap", "kid_subset_size", "nearest_k", "reference_max", "class_min_fraction")
    return {
        "n_samples": n_samples,
        "seed": seed,
        **{k: getattr(cfg, k) for k in keys},
        "c2st": [cfg.c2st_hidden, cfg.c2st_max_iter],
    }


def compute_reference(judge: Judge, n: int, seed: int) -> dict[str, dict[str, Any] | None]:
    """Score every calibration reference (uncached); one_class is None without classes."""
    shape = tuple(judge.train[0].shape[1:])
    floor_x, floor_y = floor_images(judge, n, seed)
    sets = {
        "floor": (floor_x, floor_y),
        "blur": (blurred(floor_x), floor_y),
        "shuffled": (shuffled(floor_x, seed), None),
        "one_class": one_class_images(judge, n),
        "memoriser": memoriser_images(judge, n, seed),
        "gaussian": (gaussian_images(judge.train[0], n, seed), None),
        "noise": (noise_images(shape, n, seed), None),
    }
    out = {k: None if s is None else judge.score(s[0], s[1], seed).metrics for k, s in sets.items()}
    out["floor"]["copying"] = floor_copying(judge, seed)
    return out


def reference_for(judge: Judge, n_samples: int, seed: int) -> tuple[dict[str, Any], bool]:
    """The cached reference points for this judge's data, or compute and cache them.

    Returns (reference dict, whether it came from the cache).
    """
    image_shape = list(judge.train[0].shape[1:])
    name = cache_name(
        "reference",
        judge.data_hash,
        judge.extractor,
        image_shape=image_shape,
        **settings(judge.cfg, n_samples, seed),
    )
    cached = read_json(judge.cache_dir, name)
    if cached is not None and set(cached) == set(KINDS):
        return cached, True
    reference = compute_reference(judge, n_samples, seed)
    write_json(judge.cache_dir, name, reference)
    return reference, False


def reference_points(
    cfg: EvaluateConfig,
    prepared_dir: Path,
    featurizer_dir: Path,
    cache_dir: Path,
    n_samples: int | None = None,
    seed: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Floor, Gaussian and noise metrics for the prepared data (cached), e.g. for the report."""
    judge = load_judge(cfg, prepared_dir, featurizer_dir, cache_dir)
    n = n_samples or cfg.n_samples
    return reference_for(judge, n, cfg.seed if seed is None else seed)[0]
