"""Write beside the destination, then rename into place: never a half-written output.

DVC hashes whole output directories and later stages trust them blindly, so an
`ingest` or `prepare` that fails half-way must leave the previous output (or
nothing) in place, not a mix; the same holds for single files (`atomic_file`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _sibling(target: Path, tag: str) -> Path:
    # Hidden and unique, in the same directory so the rename never crosses a filesystem.
    return target.parent / f".{target.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty temporary directory; on success it replaces `target`.

    On an exception the temporary directory is deleted and `target` is untouched.
    Linux cannot swap two directories in one rename, so an existing `target` is
    first renamed aside, then the new one renamed in, then the old one deleted: a
    crash in between leaves `target` missing and the old copy at ``.<name>.old-*``,
    but never a partly written `target`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target, "tmp")
    tmp.mkdir()  # plain mkdir (not mkdtemp) so the final folder gets the usual umask mode
    try:
        yield tmp
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(new: Path, target: Path) -> None:
    """Move directory `new` to `target`, replacing whatever `target` was."""
    if not target.exists() and not target.is_symlink():
        new.rename(target)
        return
    old = _sibling(target, "old")
    target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        old.rename(target)  # put the previous output back
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    else:
        old.unlink()


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed to `path`.

    The temporary name keeps the suffix (writers such as PIL pick the format by it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp").with_suffix(path.suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2) + "\n")


def tidy(value: Any) -> Any:
    """Six significant digits for floats (JSON stays readable); NaN/inf become null."""
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    return value
