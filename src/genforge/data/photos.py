"""An offline natural-image set: random patches of scikit-learn's two sample photos.

No dataset can be downloaded here, yet users bring photos, not digits. scikit-learn
ships two photos (a temple in China, a flower); random square crops of them make an
unlabeled, one-class set of natural images for tests and benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge.data.npz import save_npz


def photo_patches(path: Path, n: int = 1050, side: int = 32, seed: int = 0) -> Path:
    """Write an npz of `n` random `side` x `side` RGB patches (label 0) to `path`."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    x = np.zeros((n, side, side, 3), dtype=np.uint8)
    for i in range(n):
        im = photos[i % 2]  # alternate the two photos
        r, c = rng.integers(0, im.shape[0] - side), rng.integers(0, im.shape[1] - side)
        x[i] = im[r : r + side, c : c + side]
    save_npz(Path(path), x=x, y=np.zeros(n, dtype=np.int64))
    return Path(path)
