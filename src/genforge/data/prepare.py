"""`prepare`: decode the raw snapshot into fixed-size train/test arrays plus meta.json.

Steps, in order: load the snapshot -> cap each class at `max_per_class` (seeded
choice) -> resize to `image_size` and convert to `channels` (see
`images.fit_image`) -> stratified seeded split -> write ``train.npz``, ``test.npz``
and ``meta.json`` into a temporary directory that replaces `out_dir`.

Same params and snapshot give byte-identical files: arrays keep the snapshot's
order, randomness comes from generators seeded by `data.seed`, and npz members
carry a fixed timestamp. The split is done here rather than with scikit-learn so
that every class is guaranteed to appear in both splits and the bytes do not
depend on a library's sampling algorithm.

Memory: at most the decoded set and its test split are held at once (about 1.2 x the
uint8 size; 60k 32x32 RGB images are 184 MB). The cap copies only when it drops
images, the test split is written first, and the train rows are then compacted into
the decoded array in place (`take_rows_inplace`); the content hash reads the arrays'
buffers, not copies of their bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from genforge.config import DataConfig
from genforge.data.atomic import atomic_dir
from genforge.data.errors import DataError, require_path
from genforge.data.images import fit_array
from genforge.data.ingest import load_raw
from genforge.data.npz import read_npz, save_npz

SPLITS = ("train", "test")
FORMAT_VERSION = 1
_HINT = "run `genforge prepare` first (or `dvc pull`)"
# Independent random streams, so changing one step's settings cannot shift another's draws.
_CAP_STREAM, _SPLIT_STREAM = 0, 1


def cap_per_class(y: np.ndarray, max_per_class: int | None, seed: int) -> np.ndarray:
    """Indices (sorted) keeping at most `max_per_class` randomly chosen images per class."""
    if max_per_class is None:
        return np.arange(len(y))
    rng = np.random.default_rng([seed, _CAP_STREAM])
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep.append(
            rng.choice(idx, max_per_class, replace=False) if len(idx) > max_per_class else idx
        )
    return np.sort(np.concatenate(keep))


def stratified_split(
    y: np.ndarray, class_names: list[str], test_fraction: float, seed: int, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, test), sorted, with every class in both splits.

    Each class sends round(n_c * test_fraction) of its n_c images to test, clipped
    to [1, n_c - 1]; a class with fewer than 2 images is a DataError naming it.
    """
    rng = np.random.default_rng([seed, _SPLIT_STREAM])
    train, test = [], []
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(y == c)
        if len(idx) < 2:
            raise DataError(
                f"{where}: class {name!r} has {len(idx)} image(s); the train/test "
                f"split needs at least 2 per class (one in each split)"
            )
        n_test = min(max(int(np.floor(len(idx) * test_fraction + 0.5)), 1), len(idx) - 1)
        perm = rng.permutation(idx)
        test.append(perm[:n_test])
        train.append(perm[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _hash_split(h, split: str, arrays: dict[str, np.ndarray]) -> None:
    """Feed one split's arrays (name, dtype, shape and bytes, keys sorted) into `h`."""
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{split}/{key}:{a.dtype.str}:{a.shape}\n".encode())
        h.update(a)  # the buffer itself: a.tobytes() would copy the whole split


def content_hash(splits: dict[str, dict[str, np.ndarray]]) -> str:
    """sha256 over every split's arrays (name, dtype, shape and bytes), in a fixed order."""
    h = hashlib.sha256()
    for split in sorted(splits):
        _hash_split(h, split, splits[split])
    return h.hexdigest()


def take_rows_inplace(x: np.ndarray, idx: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``x[idx]`` for sorted unique `idx`, moved into the leading rows of `x` (a view).

    Row j receives row idx[j] >= j, chunk by chunk: a later chunk reads rows at or
    beyond its own positions, which no earlier chunk has written, so nothing is
    overwritten before it is read. Costs one chunk of memory instead of a copy of the
    split; `x` itself is overwritten.
    """
    for j in range(0, len(idx), chunk):
        rows = idx[j : j + chunk]
        x[j : j + len(rows)] = x[rows]
    return x[: len(idx)]


def _class_counts(y: np.ndarray, class_names: list[str]) -> dict[str, int]:
    counts = np.bincount(y, minlength=len(class_names))
    return {name: int(n) for name, n in zip(class_names, counts, strict=True)}


def _meta(
    cfg: DataConfig,
    image_shape: tuple[int, ...],
    labels: dict[str, np.ndarray],
    class_names: list[str],
    raw_images: int,
    sha256: str,
) -> dict[str, Any]:
    """The meta.json contents later stages read instead of re-deriving them."""
    return {
        "format_version": FORMAT_VERSION,
        "source": cfg.source,
        "image_shape": list(image_shape),  # [H, W, C]
        "num_classes": len(class_names),
        "class_names": class_names,
        "raw_images": raw_images,
        "counts": {s: int(len(labels[s])) for s in SPLITS},
        "class_counts": {s: _class_counts(labels[s], class_names) for s in SPLITS},
        "sha256": sha256,
        "params": cfg.model_dump(mode="json"),
    }


def prepare(cfg: DataConfig, raw_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Turn the raw snapshot in `raw_dir` into ``out_dir/{train,test}.npz`` and ``meta.json``.

    Args:
        cfg: the validated `data` params section.
        raw_dir: the snapshot `ingest` wrote (``data/raw``).
        out_dir: the prepared directory (``data/prepared``); replaced whole, or left
            untouched when anything fails.

    Returns:
        The meta.json contents.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    x, y, class_names = load_raw(cfg, raw_dir)
    raw_images = len(y)
    keep = cap_per_class(y, cfg.max_per_class, cfg.seed)
    if len(keep) < len(y):  # a copy only when the cap drops images
        x, y = x[keep], y[keep]
    x = fit_array(x, cfg.image_size, cfg.channels)  # (N, S, S, C); x itself when it fits
    if not x.flags.writeable:  # take_rows_inplace reuses x's memory
        x = x.copy()
    where = str(raw_dir)
    if cfg.max_per_class is not None:
        where += f" (after data.max_per_class={cfg.max_per_class})"
    train, test = stratified_split(y, class_names, cfg.test_fraction, cfg.seed, where)
    labels = {"train": y[train], "test": y[test]}
    image_shape, h = x.shape[1:], hashlib.sha256()
    with atomic_dir(out_dir) as tmp:
        # the content hash's split order (sorted: test, then train); the train rows
        # are then moved into x in place, so no second copy of the set is made
        for split, idx in (("test", test), ("train", train)):
            arrays = {"x": x[idx] if split == "test" else take_rows_inplace(x, idx)}
            arrays["y"] = labels[split]
            _hash_split(h, split, arrays)
            save_npz(tmp / f"{split}.npz", **arrays)
            del arrays
        meta = _meta(cfg, image_shape, labels, class_names, raw_images, h.hexdigest())
        text = json.dumps(meta, indent=2, ensure_ascii=False) + "\n"
        (tmp / "meta.json").write_text(text, encoding="utf-8")
    return meta


def load_prepared(out_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one prepared split: x (N, H, W, C) uint8 and y (N,) int64.

    Raises:
        ValueError: `split` is not "train" or "test".
        DataError: the file is missing (prepare has not run) or malformed.
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    path = Path(out_dir) / f"{split}.npz"
    arrays = read_npz(path, ("x", "y"), hint=_HINT)
    x, y = arrays["x"], arrays["y"]
    if x.dtype != np.uint8 or x.ndim != 4 or y.dtype != np.int64 or y.shape != (len(x),):
        raise DataError(
            f"{path}: expected x uint8 (N, H, W, C) and y int64 (N,), got "
            f"x {x.dtype} {x.shape}, y {y.dtype} {y.shape}; {_HINT}"
        )
    return x, y


def load_meta(out_dir: Path) -> dict[str, Any]:
    """Read ``out_dir/meta.json`` as written by `prepare`."""
    path = require_path(Path(out_dir) / "meta.json", "file", _HINT)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read prepared metadata ({exc}); {_HINT}") from None
