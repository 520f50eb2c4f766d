"""Data-copying test of Meehan, Chaudhuri & Dasgupta (2020, https://arxiv.org/abs/2004.05675).

A model that memorises its training images scores like real held-out data on FID,
precision/recall and coverage. The data-copying statistic asks instead whether the
generated samples lie *closer to the training set* than real held-out samples do:

- partition feature space into cells by k-means on the train features;
- in each cell pi, compare the distances to the nearest training point of the held-out
  test samples (P_n) and of the generated samples (Q_m) with the Mann-Whitney U
  statistic, z-scored: Z_U(pi) (paper sec. 3, eq. 2; negative = generated closer);
- C_T = sum_pi P_n(pi) Z_U(pi) / sum_pi P_n(pi) over the cells holding at least
  `min_cell` generated and test samples (sec. 3.1: under-represented cells are skipped).

C_T << 0 means data copying, C_T >> 0 under-fitting (too far from the training
data), about 0 a model as close to the training data as fresh real data. It is a
z-score, so it reads the same on any dataset: -3 is three standard errors of evidence
for copying. Distances are computed in batches, so memory stays bounded.

At scale: k-means is fitted on a seeded subsample of at most `fit_max` training points
(the cells only partition the space; `evaluate.reference_max`), but the distances are
to the nearest of *all* training points: against a subsample, copies of the images left
out of it would look like fresh data. The test split's distances depend only on the
data, so a caller scoring several sets passes them in once computed
(`test_distances`); each generated set then costs m x N distances.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import Tensor

MIN_CELL = 5  # generated and test samples a cell needs to enter C_T
TEST_PER_CELL = 20  # cells are made so that each holds about this many test samples
FIT_MAX = 10_000  # training points k-means is fitted on (evaluate.reference_max's default)


def nearest_distances(x: Tensor, ref: Tensor, batch: int = 1024) -> tuple[Tensor, Tensor]:
    """Distance of each row of `x` (N, D) to its nearest row of `ref` (M, D), and its index.

    Batched over both sets: peak memory is batch x batch, not N x M.
    """
    best = torch.full((len(x),), float("inf"), dtype=torch.float64)
    arg = torch.zeros(len(x), dtype=torch.long)
    xd, rd = x.double(), ref.double()
    for i in range(0, len(x), batch):
        xb = xd[i : i + batch]
        for j in range(0, len(rd), batch):
            d, idx = torch.cdist(xb, rd[j : j + batch]).min(dim=1)
            better = d < best[i : i + batch]
            best[i : i + batch] = torch.where(better, d, best[i : i + batch])
            arg[i : i + batch] = torch.where(better, idx + j, arg[i : i + batch])
    return best, arg


def _z_u(test_d: np.ndarray, gen_d: np.ndarray) -> float:
    """Z-scored Mann-Whitney U: U counts pairs where the generated sample is farther from
    the training set than the test sample (ties count half); E[U] = mn/2 under H0."""
    m, n = len(gen_d), len(test_d)
    ranks = np.argsort(np.argsort(np.concatenate([gen_d, test_d]), kind="stable"), kind="stable")
    # with continuous distances ties are rare; U from the rank sum of the generated set
    u = ranks[:m].sum() + m - m * (m + 1) / 2
    return float((u - m * n / 2) / np.sqrt(m * n * (m + n + 1) / 12))


def fit_cells(train: Tensor, k: int, seed: int, fit_max: int = FIT_MAX) -> KMeans:
    """k-means with `k` cells on a seeded subsample of at most `fit_max` rows of `train`
    (all of them, in order, when there are no more)."""
    x = train.double().numpy()
    if len(x) > fit_max:
        idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:fit_max])
        x = x[idx]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k-means convergence chatter on tiny sets
        return KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x)


def copying_statistic(
    train: Tensor,
    test: Tensor,
    generated: Tensor,
    seed: int,
    cells: int | None = None,
    fit_max: int = FIT_MAX,
    test_distances: Tensor | None = None,
) -> float | None:
    """Meehan et al.'s C_T of `generated` features against `train`, with `test` held out.

    Args:
        train, test, generated: feature matrices (N, D), (n, D), (m, D).
        seed: for k-means and its subsample.
        cells: the number of k-means cells; default one per ~20 test samples, 1 to 20.
        fit_max: k-means is fitted on at most this many training points.
        test_distances: `nearest_distances(test, train)[0]`, if already computed.

    Returns:
        C_T, or None when no cell holds enough samples of both sets.
    """
    k = cells or int(np.clip(len(test) // TEST_PER_CELL, 1, 20))
    km = fit_cells(train, k, seed, fit_max)
    test_d = nearest_distances(test, train)[0] if test_distances is None else test_distances
    gen_d, _ = nearest_distances(generated, train)
    test_c = km.predict(test.double().numpy())
    gen_c = km.predict(generated.double().numpy())
    num, den = 0.0, 0.0
    for c in range(k):
        t, g = test_d.numpy()[test_c == c], gen_d.numpy()[gen_c == c]
        if len(t) < MIN_CELL or len(g) < MIN_CELL:
            continue
        share = len(t) / len(test)  # P_n(pi)
        num, den = num + share * _z_u(t, g), den + share
    return num / den if den > 0 else None


def closest_pairs(generated: Tensor, train: Tensor, count: int) -> tuple[Tensor, Tensor]:
    """Indices of the `count` generated samples nearest to a training sample, and of
    those training samples (for the report's "closest generated/train pairs")."""
    d, arg = nearest_distances(generated, train)
    order = d.argsort()[:count]
    return order, arg[order]
