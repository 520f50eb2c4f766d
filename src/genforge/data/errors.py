"""The one exception the data layer raises for problems with the user's data.

A `DataError` is user-facing: the CLI prints its message and exits 1 without a stack
trace, so the message alone must say which file or folder is wrong and what is
allowed instead, e.g. ``data/raw/cat/3.png: cannot decode image (...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from genforge.errors import GenforgeError


class DataError(GenforgeError):
    """A problem with the data itself; the message names the culprit path and the problem."""


def require_path(path: Path, kind: Literal["file", "directory"], hint: str = "") -> Path:
    """Return `path` if it exists and is of `kind`, else raise a DataError naming it.

    Args:
        path: the file or directory a loader was asked to read.
        kind: what it must be.
        hint: appended to the message, e.g. which setting or command provides it.
    """
    suffix = f"; {hint}" if hint else ""
    if not path.exists():
        raise DataError(f"{path}: no such {kind}{suffix}")
    is_kind = path.is_file() if kind == "file" else path.is_dir()
    if not is_kind:
        other = "directory" if kind == "file" else "file"
        raise DataError(f"{path}: is a {other}, expected a {kind}{suffix}")
    return path


def require_inside(path: Path, root: Path) -> Path:
    """Return `path` if it resolves inside `root`, else a DataError naming the link.

    A symlink in a dataset folder pointing elsewhere would make `ingest` copy (and DVC
    push to the remote) whatever it points to, e.g. a file from a home directory.
    """
    target, base = path.resolve(), root.resolve()
    if target != base and base not in target.parents:
        raise DataError(
            f"{path}: is a symlink to {target}, outside data.path {root}; "
            f"copy the data into {root} instead"
        )
    return path
