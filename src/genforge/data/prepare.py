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


def content_hash(splits: dict[str, dict[str, np.ndarray]]) -> str:
    """sha256 over every split's arrays (name, dtype, shape and bytes), in a fixed order."""
    h = hashlib.sha256()
    for split in sorted(splits):
        for key in sorted(splits[split]):
            a = np.ascontiguousarray(splits[split][key])
            h.update(f"{split}/{key}:{a.dtype.str}:{a.shape}\n".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def _class_counts(y: np.ndarray, class_names: list[str]) -> dict[str, int]:
    counts = np.bincount(y, minlength=len(class_names))
    return {name: int(n) for name, n in zip(class_names, counts, strict=True)}


def _meta(
    cfg: DataConfig,
    splits: dict[str, dict[str, np.ndarray]],
    class_names: list[str],
    raw_images: int,
) -> dict[str, Any]:
    """The meta.json contents later stages read instead of re-deriving them."""
    x = splits["train"]["x"]
    return {
        "format_version": FORMAT_VERSION,
        "source": cfg.source,
        "image_shape": list(x.shape[1:]),  # [H, W, C]
        "num_classes": len(class_names),
        "class_names": class_names,
        "raw_images": raw_images,
        "counts": {s: int(len(splits[s]["y"])) for s in SPLITS},
        "class_counts": {s: _class_counts(splits[s]["y"], class_names) for s in SPLITS},
        "sha256": content_hash(splits),
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
    x, y = fit_array(x[keep], cfg.image_size, cfg.channels), y[keep]  # (N, S, S, C)
    where = str(raw_dir)
    if cfg.max_per_class is not None:
        where += f" (after data.max_per_class={cfg.max_per_class})"
    train, test = stratified_split(y, class_names, cfg.test_fraction, cfg.seed, where)
    splits = {"train": {"x": x[train], "y": y[train]}, "test": {"x": x[test], "y": y[test]}}
    meta = _meta(cfg, splits, class_names, raw_images=raw_images)
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            save_npz(tmp / f"{split}.npz", x=splits[split]["x"], y=splits[split]["y"])
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
