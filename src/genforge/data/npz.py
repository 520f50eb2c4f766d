"""The `npz` source loader and a byte-reproducible npz writer.

DVC hashes output bytes, so the same params must give the same files. `np.savez`
does today only by accident: with Python 3.11 zipfile it gets the default 1980
timestamp, while `ZipFile.writestr` with a name stamps the wall time. `save_npz`
pins every header field instead (timestamp, permissions, zip64) and stores members
uncompressed, since deflate output may differ between zlib builds. The result is an
ordinary npz (one ``<key>.npy`` per array) that `np.load` reads.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from genforge.data.errors import DataError, require_path
from genforge.data.imageset import ImageSet, checked_uint8, index_labels, make_imageset

# The earliest time a zip header can hold; any fixed value would do.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write `arrays` to `path` as an npz whose bytes depend only on the arrays.

    Members are written in keyword order; object arrays are refused (no pickles).
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16  # rw-r--r-- for unzip; fixed, not the umask
            # force_zip64 as np.savez does: arrays over 4 GiB need it, and the header
            # must be sized before the data is streamed.
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def read_npz(
    path: Path, keys: tuple[str, ...], optional: tuple[str, ...] = (), hint: str = ""
) -> dict[str, np.ndarray]:
    """Read arrays of an npz file without pickles.

    Args:
        path: the npz file.
        keys: arrays that must be present; a missing one is a DataError listing those found.
        optional: arrays read when present and otherwise left out of the result.
        hint: appended to the "no such file" message (which command creates it).
    """
    require_path(path, "file", hint)
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an npz file (not a zip archive); write it with np.savez")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                found = ", ".join(sorted(npz.files)) or "none"
                raise DataError(f"{path}: has no array {missing[0]!r} (found: {found})")
            return {k: npz[k] for k in keys + optional if k in npz.files}
    except ValueError as exc:  # object arrays need pickles, which are refused
        raise DataError(
            f"{path}: cannot read arrays without pickles ({exc}); "
            f"store numeric x/y and a string class_names array"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable npz file ({exc})") from None


def _checked_uint8_chunked(x: np.ndarray, where: str, chunk: int = 4096) -> np.ndarray:
    """`checked_uint8` a block of images at a time: on float input it makes float64 copies
    of what it converts, 8x the uint8 size of the whole set (1.5 GB at 60k 32x32 RGB)."""
    if x.dtype == np.uint8:
        return x
    out = np.empty(x.shape, dtype=np.uint8)
    for i in range(0, len(x), chunk):
        out[i : i + chunk] = checked_uint8(x[i : i + chunk], where)
    return out if len(x) else checked_uint8(x, where)


def load_npz(path: Path) -> ImageSet:
    """Load an npz with arrays `x` (N,H,W) or (N,H,W,C), `y` (N,) and optional `class_names`.

    `x` may be uint8 (0..255) or float in [0, 1] (scaled to uint8); C must be 1 or 3.
    `y` holds integer labels. With `class_names`, `y` must index into it; without, the
    sorted unique labels become the classes (named by their value).
    """
    path = Path(path)
    arrays = read_npz(path, ("x", "y"), optional=("class_names",))
    x, y = arrays["x"], arrays["y"]
    if x.ndim not in (3, 4):
        raise DataError(f"{path}: x must have shape (N, H, W) or (N, H, W, C), got {x.shape}")
    if x.ndim == 4 and x.shape[-1] not in (1, 3):
        raise DataError(f"{path}: x has {x.shape[-1]} channels (shape {x.shape}); allowed: 1 or 3")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: y must be a 1-D integer array, got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise DataError(
            f"{path}: x has {len(x)} images but y has {len(y)} labels; "
            f"they must have the same length"
        )
    x = _checked_uint8_chunked(x, str(path))
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.ndim != 1 or names.dtype.kind != "U":
            raise DataError(
                f"{path}: class_names must be a 1-D string array, got {names.dtype} {names.shape}"
            )
        return make_imageset(x, y, names.tolist(), str(path))
    y, names = index_labels(y)
    return make_imageset(x, y, names, str(path))
