"""Diversity and mode metrics: density/coverage on the features, classes from the featurizer.

- density and coverage (Naeem et al. 2020, https://arxiv.org/abs/2002.09797), from
  the authors' `prdc` package, on the same features as FID. Density is the mean
  number of real k-NN balls a generated sample falls into, divided by k (about 1
  when the distributions match, above 1 when samples crowd in dense regions);
  coverage is the share of real samples whose k-NN ball holds a generated sample.
- class metrics from the domain classifier's predictions: how many classes the
  generated samples cover, the total variation distance of their class histogram
  to the real one, and (conditional models) the share classified as asked.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from prdc import compute_prdc
from torch import Tensor


def density_coverage(real: Tensor, generated: Tensor, nearest_k: int) -> dict[str, float]:
    """Density and coverage of `generated` against `real` features (N, D).

    `nearest_k` is clipped to what prdc can take for small sets (k + 1 < set size).
    """
    k = max(1, min(nearest_k, len(real) - 2, len(generated) - 2))
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        m = compute_prdc(real.numpy(), generated.numpy(), nearest_k=k)
    return {"density": float(m["density"]), "coverage": float(m["coverage"])}


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
