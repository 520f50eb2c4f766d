"""Classifier two-sample test (Lopez-Paz & Oquab 2017, https://arxiv.org/abs/1610.06545).

A small MLP learns to tell real from generated feature vectors. Its held-out
accuracy is 0.5 when the two sets are indistinguishable to it and 1.0 when every
sample is told apart; the share of generated samples it calls real (`c2st_fooled`)
reads the other way round. Two-fold cross-fitting on a balanced subsample gives
every sample a held-out prediction; generated samples left out of the balanced
subsample are scored by both folds' models, which never saw them either.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor

FOLDS = 2


def c2st(
    real: Tensor, generated: Tensor, seed: int, hidden: int = 64, max_iter: int = 200
) -> tuple[dict[str, float], np.ndarray]:
    """Held-out real-vs-generated accuracy and the share of generated samples called real.

    Args:
        real, generated: feature matrices (N, D) and (M, D).
        seed: for the subsample, the folds and the MLP.
        hidden, max_iter: MLP width and training epochs.

    Returns:
        ({"c2st_accuracy", "c2st_fooled"}, held-out P(real) of every generated sample).
    """
    rng = np.random.default_rng(seed)
    r, g = real.double().numpy(), generated.double().numpy()
    m = min(len(r), len(g))
    if m < 2 * FOLDS:
        raise ValueError(f"the two-sample test needs >= {2 * FOLDS} samples per set, got {m}")
    ri, gi = rng.permutation(len(r))[:m], rng.permutation(len(g))[:m]
    x = np.concatenate([r[ri], g[gi]])
    y = np.concatenate([np.ones(m, dtype=int), np.zeros(m, dtype=int)])  # 1 = real
    p_real = np.zeros(len(g))  # held-out P(real) per generated sample
    unseen = np.ones(len(g), dtype=bool)
    unseen[gi] = False
    correct = 0
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    for fit_idx, held_idx in folds.split(x, y):
        clf = make_pipeline(
            StandardScaler(),
            MLPClassifier((hidden,), alpha=1e-3, max_iter=max_iter, random_state=seed),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x[fit_idx], y[fit_idx])
        prob = clf.predict_proba(x[held_idx])[:, 1]
        correct += int(((prob > 0.5).astype(int) == y[held_idx]).sum())
        held_gen = held_idx[held_idx >= m] - m  # positions in gi
        p_real[gi[held_gen]] = prob[y[held_idx] == 0]
        if unseen.any():
            p_real[unseen] += clf.predict_proba(g[unseen])[:, 1] / FOLDS
    metrics = {
        "c2st_accuracy": correct / len(y),
        "c2st_fooled": float((p_real > 0.5).mean()),
    }
    return metrics, p_real
