"""The five data sources behind `data.source`, each a loader returning an ImageSet.

| source    | what `data.path` is                        | loader               |
| --------- | ------------------------------------------ | -------------------- |
| digits    | (none) scikit-learn's embedded 8x8 digits  | `load_digits`        |
| shapes    | (none) drawn from `data.shapes`            | `shapes.make_shapes` |
| folder    | a folder with one sub-folder per class     | `images.load_folder` |
| mnist-idx | a folder of IDX ubyte files (.gz or not)   | `idx.load_idx_dir`   |
| npz       | an npz file: x, y and maybe class_names    | `npz.load_npz`       |

`load_source` reads the configured original; `load_raw` (in ingest.py) reads the
snapshot that `ingest` made of it, with the same loaders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge.config import DataConfig
from genforge.data.errors import require_path
from genforge.data.idx import load_idx_dir
from genforge.data.images import load_folder
from genforge.data.imageset import ImageSet, make_imageset
from genforge.data.npz import load_npz
from genforge.data.shapes import make_shapes

GENERATED = ("digits", "shapes")  # sources made in code; their snapshot is one npz file
COPIED = ("folder", "mnist-idx", "npz")  # sources read from data.path and copied verbatim


def load_digits() -> ImageSet:
    """scikit-learn's 1,797 handwritten digits (8x8, grey), scaled from 0..16 to 0..255.

    The data ships inside scikit-learn, so this works offline. Classes "0".."9".
    """
    from sklearn.datasets import load_digits as sklearn_digits  # import cost only when used

    digits = sklearn_digits()
    x = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)  # (N, 8, 8)
    y = digits.target.astype(np.int64)
    return make_imageset(x, y, [str(d) for d in range(10)], "sklearn digits")


def source_path(cfg: DataConfig) -> Path:
    """`data.path` as a Path, checked to exist and be a folder (npz: a file)."""
    assert cfg.path is not None  # DataConfig requires a path for copied sources
    kind = "file" if cfg.source == "npz" else "directory"
    hint = f"data.path for data.source {cfg.source!r} must name an existing {kind}"
    return require_path(Path(cfg.path), kind, hint)


def load_source(cfg: DataConfig) -> ImageSet:
    """Load the original data the config names (not the snapshot).

    Folder images are decoded at `cfg.channels` and `cfg.image_size`, since images
    of different sizes cannot be stacked; other sources keep their native shape.
    """
    if cfg.source == "digits":
        return load_digits()
    if cfg.source == "shapes":
        return make_shapes(cfg.shapes, seed=cfg.seed)
    return load_path(cfg, source_path(cfg))


def load_path(cfg: DataConfig, path: Path) -> ImageSet:
    """Load a copied source (folder, mnist-idx or npz) from `path` with its loader."""
    if cfg.source == "folder":
        return load_folder(path, channels=cfg.channels, image_size=cfg.image_size)
    if cfg.source == "mnist-idx":
        return load_idx_dir(path)
    if cfg.source == "npz":
        return load_npz(path)
    raise ValueError(
        f"data.source {cfg.source!r} is not read from a path; path sources: {', '.join(COPIED)}"
    )
