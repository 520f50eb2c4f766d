"""Reference points stored with every metrics file: the real-vs-real floor and two baselines.

- floor: the test split scored as if it were generated, against the train split —
  what a perfect model that never saw those images would get. It holds
  min(n_samples, test size) images, so with small test splits its sample count is
  lower than the candidates' (recorded as its `n_samples`); its `label_accuracy` is
  the featurizer's accuracy on those images.
- gaussian: every pixel drawn independently from a Gaussian fitted to that pixel on
  the train split — right first moments, no structure.
- noise: uniform random pixels.

Each is computed once per data version, extractor and settings and then read from a
JSON file in the cache folder (key: see cache.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genforge.config import EvaluateConfig
from genforge.evaluation.cache import cache_name, read_json, write_json
from genforge.evaluation.scoring import Judge, load_judge

KINDS = ("floor", "gaussian", "noise")


def gaussian_images(train: Tensor, n: int, seed: int) -> Tensor:
    """`n` images with each pixel ~ N(mean, std) of that pixel over `train` (uint8 NCHW)."""
    x = train.double()
    mean, std = x.mean(0), x.std(0)
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


def settings(cfg: EvaluateConfig, n_samples: int, seed: int) -> dict[str, Any]:
    """Everything besides data and extractor that the reference numbers depend on."""
    keys = ("bootstrap", "kid_subset_size", "nearest_k", "class_min_fraction")
    return {
        "n_samples": n_samples,
        "seed": seed,
        **{k: getattr(cfg, k) for k in keys},
        "c2st": [cfg.c2st_hidden, cfg.c2st_max_iter],
    }


def compute_reference(judge: Judge, n: int, seed: int) -> dict[str, dict[str, Any]]:
    """Score the floor and both baselines (uncached)."""
    shape = tuple(judge.train[0].shape[1:])
    floor_x, floor_y = floor_images(judge, n, seed)
    sets = {
        "floor": (floor_x, floor_y),
        "gaussian": (gaussian_images(judge.train[0], n, seed), None),
        "noise": (noise_images(shape, n, seed), None),
    }
    return {k: judge.score(x, requested, seed).metrics for k, (x, requested) in sets.items()}


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
