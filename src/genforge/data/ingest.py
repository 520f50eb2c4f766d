"""`ingest`: snapshot the configured source into the raw directory DVC versions.

The snapshot is in one of three on-disk formats, so `prepare` reads it with the
same loaders as the original:

- digits / shapes: generated here, written as ``<raw_dir>/<source>.npz``
  (x, y, class_names) with the byte-reproducible npz writer;
- folder: the image files only, copied verbatim under their class sub-folders;
- mnist-idx: the IDX files of every images/labels pair, copied verbatim;
- npz: the file, copied verbatim under its own name.

A copied source is loaded (fully decoded) first, so a corrupt file is reported
against the user's path before anything is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from genforge.config import DataConfig
from genforge.data.atomic import atomic_dir
from genforge.data.errors import DataError, require_path
from genforge.data.imageset import ImageSet
from genforge.data.npz import load_npz, save_npz
from genforge.data.sources import load_path, load_source, source, source_path

_HINT = "run `genforge ingest` first (or `dvc pull` the raw data)"


def _check_apart(src: Path, raw_dir: Path) -> None:
    """Refuse a data.path inside the raw dir (or vice versa): ingest replaces raw_dir."""
    s, r = src.resolve(), raw_dir.resolve()
    if s == r or r in s.parents or s in r.parents:
        raise DataError(
            f"data.path {src}: overlaps the raw snapshot directory {raw_dir}, "
            f"which ingest replaces; keep the original elsewhere "
            f"(e.g. data/external/)"
        )


def _write_snapshot(cfg: DataConfig, dest: Path) -> tuple[ImageSet, list[Path]]:
    """Write the snapshot of `cfg`'s source into the empty directory `dest`."""
    row = source(cfg.source)  # an unknown source is an error here, before anything is read
    data = load_source(cfg)
    if not row.needs_path:
        rel = Path(f"{cfg.source}.npz")
        save_npz(dest / rel, x=data.x, y=data.y, class_names=data.class_names)
        return data, [rel]
    src = source_path(cfg)
    assert row.copies is not None  # every path source says what its snapshot keeps
    copies = row.copies(src)
    for file, rel in copies:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, dest / rel)  # contents only: DVC hashes bytes, not mtimes
    return data, [rel for _, rel in copies]


def ingest(cfg: DataConfig, raw_dir: Path) -> dict[str, Any]:
    """Snapshot the source `cfg` names into `raw_dir`, replacing it atomically.

    Args:
        cfg: the validated `data` params section.
        raw_dir: the snapshot directory (``data/raw``); created or replaced whole.

    Returns:
        A summary: source, path, raw_dir, images, classes, class_names, files, bytes.
    """
    raw_dir = Path(raw_dir)
    if cfg.path is not None:
        _check_apart(Path(cfg.path), raw_dir)
    with atomic_dir(raw_dir) as tmp:
        data, files = _write_snapshot(cfg, tmp)
        size = sum((tmp / f).stat().st_size for f in files)
    return {
        "source": cfg.source,
        "path": cfg.path,
        "raw_dir": str(raw_dir),
        "images": int(len(data.y)),
        "classes": len(data.class_names),
        "class_names": data.class_names,
        "files": len(files),
        "bytes": int(size),
    }


def load_raw(cfg: DataConfig, raw_dir: Path) -> ImageSet:
    """Load the snapshot `ingest` wrote into `raw_dir` for `cfg.source`.

    digits/shapes snapshots are the npz ``<source>.npz``; an npz snapshot is the one
    ``*.npz`` in `raw_dir`; folder and mnist-idx snapshots are read as such.
    """
    row = source(cfg.source)
    raw_dir = require_path(Path(raw_dir), "directory", _HINT)
    if not row.needs_path:
        return load_npz(require_path(raw_dir / f"{cfg.source}.npz", "file", _HINT))
    if row.raw_glob is not None:  # a file source: its one copy inside the snapshot
        found = sorted(raw_dir.glob(row.raw_glob))
        if len(found) != 1:
            raise DataError(
                f"{raw_dir}: expected exactly one {row.raw_glob} snapshot, found {len(found)}; "
                f"{_HINT}"
            )
        return load_path(cfg, found[0])
    return load_path(cfg, raw_dir)
