"""Cache keys and a small JSON cache for statistics that depend only on the data version.

torch-fidelity caches features and FID statistics under ``<cache_root>/<input
name>-<extractor>-...pt`` and keys them by nothing but the input name it is given.
So every name genforge gives it is a digest of everything the cached values depend
on: the prepared data's content hash, the extractor, the sha256 of its weights file,
the image shape, the sample count, the metric settings and the code that computes
the values (`code_digest`: the metric list, the reference kinds and the sources of
the evaluation modules that compute them). A new dataset, a retrained featurizer,
other settings or an edited metric give a new name, hence a recomputation; stale
entries are never read (delete the folder to reclaim the space).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from genforge.data.atomic import atomic_file, write_json_atomic
from genforge.evaluation.extractor import Extractor

# Bump only when a cached value's meaning changes outside the modules in CODE (those
# are in the key by content): every older entry is then ignored.
# 2: calibration references and the data-copying statistic; 3: k-NN metrics on the
# reference subsample (evaluate.reference_max, recorded as reference_n)
CACHE_VERSION = 3

# The evaluation modules whose code decides what a cached value means (the reference
# points are scored by all of them); relative to src/genforge/evaluation.
CODE = (
    "reference.py", "scoring.py", "calibration.py", "copying.py", "diversity.py",
    "fidelity.py", "two_sample.py",
)  # fmt: skip


EVALUATION_DIR = Path(__file__).parent


@functools.cache
def code_digest(root: Path = EVALUATION_DIR) -> str:
    """sha256 of what cached values depend on in code: METRIC_KEYS, reference.KINDS and
    the sources of the CODE modules under `root`, so editing a metric recomputes instead
    of reading values computed by the old code (a hand-bumped version was forgotten)."""
    from genforge.evaluation import reference, scoring  # they import this module

    h = hashlib.sha256(json.dumps([scoring.METRIC_KEYS, reference.KINDS]).encode())
    for name in CODE:
        h.update(name.encode())
        h.update((Path(root) / name).read_bytes())
    return h.hexdigest()


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
            "code": code_digest(),
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
    path = Path(cache_dir) / f"{name}.json"
    write_json_atomic(path, value)  # keeps the metric order
    return path


def read_array(cache_dir: Path, name: str) -> np.ndarray | None:
    """The cached array (``<name>.npy``, no pickles), or None if absent or unreadable."""
    try:
        return np.load(Path(cache_dir) / f"{name}.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None


def write_array(cache_dir: Path, name: str, value: np.ndarray) -> Path:
    """Store `value` atomically as ``<name>.npy``; return its path."""
    path = Path(cache_dir) / f"{name}.npy"
    with atomic_file(path) as tmp:  # keeps the .npy suffix: np.save adds none
        np.save(tmp, value, allow_pickle=False)
    return path
