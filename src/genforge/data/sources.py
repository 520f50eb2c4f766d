"""The data sources behind `data.source`: one table, name -> how to load and copy it.

| source    | what `data.path` is                        | loader               |
| --------- | ------------------------------------------ | -------------------- |
| digits    | (none) scikit-learn's embedded 8x8 digits  | `load_digits`        |
| shapes    | (none) drawn from `data.shapes`            | `shapes.make_shapes` |
| folder    | a folder with one sub-folder per class     | `images.load_folder` |
| mnist-idx | a folder of IDX ubyte files (.gz or not)   | `idx.load_idx_dir`   |
| npz       | an npz file: x, y and maybe class_names    | `npz.load_npz`       |

`SOURCES` is the only list of them: config.py builds the `data.source` choices and
the path-vs-source check from it, and ingest.py asks it what to copy. A new source
is its loader module plus one row here. `load_source` reads the configured original;
`load_raw` (in ingest.py) reads the snapshot that `ingest` made of it, with the same
loaders.

This module must not import genforge.config at run time (config imports it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from genforge.data.errors import DataError, require_path
from genforge.data.idx import find_idx_pairs, load_idx_dir
from genforge.data.images import list_folder, load_folder
from genforge.data.imageset import ImageSet, make_imageset
from genforge.data.npz import load_npz
from genforge.data.shapes import make_shapes

if TYPE_CHECKING:
    from genforge.config import DataConfig

Copies = list[tuple[Path, Path]]  # (file to copy, its path relative to the snapshot)


@dataclass(frozen=True)
class Source:
    """One row of the table.

    load: (config, path) -> images; path is None for a source made in code.
    path_kind: what `data.path` must name ("file" / "directory"), None when the
        source is made in code (then `data.path` must be empty and the snapshot is
        the npz ``<name>.npz``).
    copies: for a path source, the files ingest copies verbatim (given data.path).
    raw_glob: for a file source, the pattern that finds its copy in the snapshot.
    """

    load: Callable[[DataConfig, Path | None], ImageSet]
    path_kind: Literal["file", "directory"] | None = None
    copies: Callable[[Path], Copies] | None = None
    raw_glob: str | None = None

    @property
    def needs_path(self) -> bool:
        return self.path_kind is not None


def load_digits() -> ImageSet:
    """scikit-learn's 1,797 handwritten digits (8x8, grey), scaled from 0..16 to 0..255.

    The data ships inside scikit-learn, so this works offline. Classes "0".."9".
    """
    from sklearn.datasets import load_digits as sklearn_digits  # import cost only when used

    digits = sklearn_digits()
    x = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)  # (N, 8, 8)
    y = digits.target.astype(np.int64)
    return make_imageset(x, y, [str(d) for d in range(10)], "sklearn digits")


def _folder_copies(src: Path) -> Copies:
    return [(f, Path(name) / f.name) for name, files in list_folder(src).items() for f in files]


SOURCES: dict[str, Source] = {
    "digits": Source(load=lambda cfg, path: load_digits()),
    "shapes": Source(load=lambda cfg, path: make_shapes(cfg.shapes, seed=cfg.seed)),
    "folder": Source(
        # decoded at cfg.channels and cfg.image_size: images of different sizes cannot
        # be stacked; the other sources keep their native shape
        load=lambda cfg, path: load_folder(path, channels=cfg.channels, image_size=cfg.image_size),
        path_kind="directory",
        copies=_folder_copies,
    ),
    "mnist-idx": Source(
        load=lambda cfg, path: load_idx_dir(path),
        path_kind="directory",
        copies=lambda src: [(f, Path(f.name)) for pair in find_idx_pairs(src) for f in pair],
    ),
    "npz": Source(
        load=lambda cfg, path: load_npz(path),
        path_kind="file",
        copies=lambda src: [(src, Path(src.name))],
        raw_glob="*.npz",
    ),
}
GENERATED = tuple(k for k, s in SOURCES.items() if not s.needs_path)  # snapshot: one npz
COPIED = tuple(k for k, s in SOURCES.items() if s.needs_path)  # read from data.path, copied


def source(name: str) -> Source:
    """The row of `name`; an unknown name is an error naming the allowed ones."""
    if name not in SOURCES:
        raise DataError(
            f"data.source {name!r} is not a known source; allowed: {', '.join(SOURCES)}"
        )
    return SOURCES[name]


def source_path(cfg: DataConfig) -> Path:
    """`data.path` as a Path, checked to exist and be what the source reads (file/folder)."""
    kind = source(cfg.source).path_kind
    if kind is None:
        raise ValueError(
            f"data.source {cfg.source!r} is not read from a path; path sources: {', '.join(COPIED)}"
        )
    assert cfg.path is not None  # DataConfig requires a path for copied sources
    hint = f"data.path for data.source {cfg.source!r} must name an existing {kind}"
    return require_path(Path(cfg.path), kind, hint)


def load_source(cfg: DataConfig) -> ImageSet:
    """Load the original data the config names (not the snapshot)."""
    row = source(cfg.source)
    return row.load(cfg, source_path(cfg) if row.needs_path else None)


def load_path(cfg: DataConfig, path: Path) -> ImageSet:
    """Load a copied source (folder, mnist-idx, npz...) from `path` with its loader."""
    row = source(cfg.source)
    if not row.needs_path:
        raise ValueError(
            f"data.source {cfg.source!r} is not read from a path; path sources: {', '.join(COPIED)}"
        )
    return row.load(cfg, path)
