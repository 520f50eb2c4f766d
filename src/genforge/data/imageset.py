"""What every source loader returns, and the label and pixel helpers they share.

An `ImageSet` is ``(x, y, class_names)``: `x` uint8 images NHWC with C = 1 or 3,
`y` int64 class indices (N,) into `class_names`. Loaders build one through
`make_imageset`, which checks those invariants once so later stages never have to.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from genforge.data.errors import DataError


class ImageSet(NamedTuple):
    """Decoded images with labels; unpacks as ``x, y, class_names = ...``."""

    x: np.ndarray  # (N, H, W, C) uint8, C in {1, 3}
    y: np.ndarray  # (N,) int64, values in [0, len(class_names))
    class_names: list[str]


def make_imageset(x: np.ndarray, y: np.ndarray, class_names: list[str], where: str) -> ImageSet:
    """Check shapes, dtypes and label range; raise DataError naming `where` if they are off.

    Args:
        x: (N, H, W) or (N, H, W, C) uint8 images; a missing channel axis is added.
        y: (N,) integer class indices.
        class_names: one name per class; `y` indexes into it.
        where: the file or folder the data came from, for error messages.
    """
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(
            f"{where}: images must be uint8 (N, H, W, C) with C 1 or 3, got {x.dtype} {x.shape}"
        )
    if len(x) == 0:
        raise DataError(f"{where}: contains no images")
    if y.shape != (len(x),):
        raise DataError(
            f"{where}: {len(x)} images but labels have shape {y.shape}; need one label per image"
        )
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= len(class_names):
        raise DataError(
            f"{where}: labels must lie in [0, {len(class_names)}) "
            f"(one per class name), got min {y.min()}, max {y.max()}"
        )
    return ImageSet(np.ascontiguousarray(x), y, [str(n) for n in class_names])


def index_labels(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Map raw label values to class indices; class names are the sorted unique values.

    Labels 0..9 map to themselves with names "0".."9"; sparse labels such as {1, 3, 5}
    become 0, 1, 2 named "1", "3", "5", so every class index has at least one image.
    """
    values, y = np.unique(labels, return_inverse=True)
    return y.astype(np.int64).reshape(-1), [str(v) for v in values.tolist()]


def checked_uint8(x: np.ndarray, where: str) -> np.ndarray:
    """Return uint8 pixels from uint8 (as is) or float in [0, 1] (scaled by 255, rounded).

    Any other dtype is refused: guessing the range of int32 or float in [0, 255]
    data would silently wash out or saturate the images.
    """
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)):
            raise DataError(f"{where}: x contains NaN or infinite values")
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if lo < 0.0 or hi > 1.0:
            raise DataError(
                f"{where}: float x must lie in [0, 1], got values in "
                f"[{lo:g}, {hi:g}]; store uint8 0..255 instead"
            )
        return np.round(x.astype(np.float64) * 255.0).astype(np.uint8)
    raise DataError(f"{where}: x has dtype {x.dtype}; allowed: uint8 (0..255) or float in [0, 1]")
