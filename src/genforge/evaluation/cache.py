"""Cache keys and a small JSON cache for statistics that depend only on the data version.

torch-fidelity caches features and FID statistics under ``<cache_root>/<input
name>-<extractor>-...pt`` and keys them by nothing but the input name it is given.
So every name genforge gives it is a digest of everything the cached values depend
on: the prepared data's content hash, the extractor, the sha256 of its weights file,
the image shape, the sample count and the metric settings. A new dataset, a
retrained featurizer or other settings give a new name, hence a recomputation;
stale entries are never read (delete the folder to reclaim the space).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from genforge.evaluation.extractor import Extractor

# Bump when the meaning of a cached value changes (a metric's definition, the sampling
# of a baseline): every older entry is then ignored.
# 2: calibration references and the data-copying statistic; 3: k-NN metrics on the
# reference subsample (evaluate.reference_max, recorded as reference_n)
CACHE_VERSION = 3


def cache_name(kind: str, data_hash: str, extractor: Extractor, **settings: Any) -> str:
    """A torch-fidelity-safe input name (no path separators) for one cached quantity.

    Args:
        kind: what is cached, e.g. ``train`` (features of the train split) or ``reference``.
        data_hash: the prepared data's content hash (``meta.json`` sha256).
        extractor: the feature extractor; its name and weights hash enter the key.
        settings: everything else the value depends on (image shape, sample count, ...).
    """
    blob = json.dumps(
        {
            "version": CACHE_VERSION,
            "kind": kind,
            "data": data_hash,
            "extractor": extractor.name,
            "weights": extractor.sha256,
            "settings": settings,
        },
        sort_keys=True,
        default=str,
    )
    return f"genforge-{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:32]}"


def read_json(cache_dir: Path, name: str) -> Any | None:
    """The cached value, or None if absent (an unreadable entry counts as absent)."""
    path = Path(cache_dir) / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(cache_dir: Path, name: str, value: Any) -> Path:
    """Store `value` atomically (temporary file, then rename); return its path."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{name}.json"
    tmp = cache_dir / f".{name}.tmp-{os.getpid()}"
    try:
        tmp.write_text(json.dumps(value, indent=2) + "\n")  # keeps the metric order
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_array(cache_dir: Path, name: str) -> np.ndarray | None:
    """The cached array (``<name>.npy``, no pickles), or None if absent or unreadable."""
    try:
        return np.load(Path(cache_dir) / f"{name}.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None


def write_array(cache_dir: Path, name: str, value: np.ndarray) -> Path:
    """Store `value` atomically as ``<name>.npy``; return its path."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{name}.npy"
    tmp = cache_dir / f".{name}.tmp-{os.getpid()}.npy"
    try:
        np.save(tmp, value, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
