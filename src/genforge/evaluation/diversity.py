"""Diversity and mode metrics: density/coverage on the features, classes from the featurizer.

- density and coverage (Naeem et al. 2020, https://arxiv.org/abs/2002.09797), from
  the authors' `prdc` package, on the same features as FID. Density is the mean
  number of real k-NN balls a generated sample falls into, divided by k (about 1
  when the distributions match, above 1 when samples crowd in dense regions);
  coverage is the share of real samples whose k-NN ball holds a generated sample.
  The distances come from prdc's own helpers, a block of real rows at a time, so
  memory is block x N rather than N x N (prdc's `compute_prdc` builds the whole
  real x real matrix: about 18 GB for 48k train images); both metrics are counts
  of comparisons, so the blocks give exactly prdc's numbers.
- the reference subsample: k-NN metrics cost N^2 in the reference size, so they use
  a seeded subsample of at most `evaluate.reference_max` train features
  (`reference_subsample`), recorded as `reference_n`.
- class metrics from the domain classifier's predictions: how many classes the
  generated samples cover, the total variation distance of their class histogram
  to the real one, and (conditional models) the share classified as asked.
"""

from __future__ import annotations

import numpy as np
import torch
from prdc.prdc import compute_pairwise_distance, get_kth_value
from torch import Tensor

BLOCK = 1024  # real rows per distance block: 1024 x 10k float32 = 40 MB


def reference_subsample(n: int, max_n: int, seed: int) -> Tensor:
    """Sorted indices of a seeded subsample of min(n, max_n) of `n` reference points.

    All of them, in order, when n <= max_n, so small datasets get exactly the numbers
    of the full reference. The same seed gives every candidate the same subsample.
    """
    if n <= max_n:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=gen)[:max_n].sort().values


def nearest_k_for(nearest_k: int, n_real: int, n_generated: int) -> int:
    """`nearest_k` clipped to what the sets allow (k + 1 < set size, as prdc needs)."""
    return max(1, min(nearest_k, n_real - 2, n_generated - 2))


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row (prdc's radii), in row blocks."""
    return np.concatenate(
        [
            get_kth_value(compute_pairwise_distance(features[i : i + BLOCK], features), k + 1)
            for i in range(0, len(features), BLOCK)
        ]
    )


def density_coverage(
    real: Tensor, generated: Tensor, nearest_k: int, radii: np.ndarray | None = None
) -> dict[str, float]:
    """Density and coverage of `generated` against `real` features (N, D).

    `nearest_k` is clipped by `nearest_k_for`; `radii` are `knn_radii(real, k)` when
    the caller has them already (they depend only on the reference).
    """
    k = nearest_k_for(nearest_k, len(real), len(generated))
    r, g = real.numpy(), generated.numpy()
    radii = knn_radii(r, k) if radii is None else radii
    inside = np.zeros(len(g), dtype=np.int64)  # real balls holding each generated sample
    covered = 0  # real samples whose ball holds a generated sample
    for i in range(0, len(r), BLOCK):
        d = compute_pairwise_distance(r[i : i + BLOCK], g)  # (block, M)
        ball = radii[i : i + BLOCK, None]
        inside += (d < ball).sum(axis=0)
        covered += int((d.min(axis=1) < ball[:, 0]).sum())
    return {
        "density": float((1.0 / float(k)) * inside.mean()),
        "coverage": float(covered / len(r)),
    }


def class_histogram(labels: Tensor, num_classes: int) -> np.ndarray:
    """Share of each class among `labels` (sums to 1)."""
    counts = torch.bincount(labels, minlength=num_classes).double().numpy()
    return counts / max(counts.sum(), 1.0)


def class_metrics(
    predicted: Tensor, real_hist: np.ndarray, min_fraction: float
) -> dict[str, float | int]:
    """Classes covered and class-histogram distance of generated samples.

    A class is covered when its share among the generated samples is at least
    `min_fraction` times its share in the real data (a handful of misclassified
    samples does not cover a dropped mode). The distance is the total variation
    distance, 0.5 * sum |p_gen - p_real|, in [0, 1].
    """
    num_classes = len(real_hist)
    gen_hist = class_histogram(predicted, num_classes)
    covered = int(np.sum((gen_hist >= min_fraction * real_hist) & (real_hist > 0)))
    return {
        "classes_covered": covered,
        "num_classes": num_classes,
        "class_hist_distance": float(0.5 * np.abs(gen_hist - real_hist).sum()),
    }


def label_accuracy(predicted: Tensor, requested: Tensor | None) -> float | None:
    """Share of samples the featurizer assigns to the class they were generated for."""
    if requested is None:
        return None
    return float((predicted == requested.cpu()).double().mean())


def proportional_labels(real_hist: np.ndarray, n: int, seed: int) -> Tensor:
    """`n` labels in the real class proportions (largest remainder), in a seeded order.

    Conditional models are asked for classes in the proportions of the real data, so
    a perfect model also matches the real class histogram.
    """
    exact = real_hist * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[: n - counts.sum()]] += 1
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.from_numpy(counts))
    return labels[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]
