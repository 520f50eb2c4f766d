"""The `mnist-idx` source: a directory of IDX ubyte files, gzipped or not.

IDX (http://yann.lecun.com/exdb/mnist/, "file formats") is a big-endian header
``00 00 <type> <ndim>`` followed by `ndim` uint32 sizes and the raw data. MNIST,
Fashion-MNIST and KMNIST ship images as type 0x08 (unsigned byte) with 3 dims
(magic 0x00000803) and labels as type 0x08 with 1 dim (magic 0x00000801).
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from genforge.data.errors import DataError, require_inside, require_path
from genforge.data.imageset import ImageSet, index_labels, make_imageset

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
MAX_IDX_BYTES = 2 << 30  # per file; EMNIST ByClass, the largest MNIST-format set, is 0.55 GB
_SLACK = 1 << 20  # bytes read past the declared size to tell "longer than declared"
# "train-images-idx3-ubyte.gz"; some mirrors write "train-images.idx3-ubyte".
_IDX_NAME = re.compile(r"^(?P<prefix>.*)(?P<kind>images|labels)[-.]idx[13]-ubyte(\.gz)?$", re.I)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file, gzipped when its name ends in .gz; check magic and size.

    The data is streamed: at most the size its header declares (itself capped at
    MAX_IDX_BYTES) is read, plus a little to tell "longer than declared", so a gzip
    bomb (a few KiB that inflate to gigabytes) costs no more memory than an honest file.

    Args:
        path: the file.
        magic: the expected magic number (IMAGES_MAGIC or LABELS_MAGIC).

    Returns:
        uint8 array shaped by the header: (N, H, W) for images, (N,) for labels.
    """
    ndim = magic & 0xFF
    what = "image" if magic == IMAGES_MAGIC else "label"
    header_len = 4 + 4 * ndim
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as f:
            header = f.read(header_len)
            dims, expected = _check_header(path, header, magic, what)
            data = f.read(expected)
            extra = len(f.read(_SLACK)) if len(data) == expected else 0
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if len(data) != expected or extra:
        found = f"more than {expected + _SLACK - 1}" if extra == _SLACK else len(data) + extra
        why = (
            "the file is truncated or not what its name says"
            if len(data) < expected
            else "more data than its header declares (a corrupt file or a decompression "
            "bomb; not read further)"
        )
        raise DataError(
            f"{path}: has {found} bytes of data but its header "
            f"(dims {'x'.join(map(str, dims))}) says {expected}; {why}"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _check_header(path: Path, header: bytes, magic: int, what: str) -> tuple[tuple[int, ...], int]:
    """(dims, data bytes) from an IDX header; DataError for a wrong magic or a huge claim."""
    ndim = magic & 0xFF
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"{path}: only {len(header)} bytes, too short for an IDX {what} header")
    (found,) = struct.unpack(">I", header[:4])
    if found != magic:
        raise DataError(
            f"{path}: not an IDX {what} file (magic number 0x{found:08x}, expected 0x{magic:08x})"
        )
    dims = struct.unpack(f">{ndim}I", header[4:])
    expected = math.prod(dims)
    if expected > MAX_IDX_BYTES:
        raise DataError(
            f"{path}: header claims {'x'.join(map(str, dims))} = {expected} bytes of {what}s; "
            f"at most {MAX_IDX_BYTES} ({MAX_IDX_BYTES >> 30} GiB) are read"
        )
    return dims, expected


def find_idx_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Return the (images, labels) file pairs in `root`, sorted by file name.

    A pair shares the name before "images"/"labels" (e.g. "train-", "t10k-"). A file
    without its partner, or the same file both plain and gzipped, is a DataError.
    """
    require_path(root, "directory", "data.path must be a folder of IDX files")
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(root.iterdir()):
        m = _IDX_NAME.match(path.name)
        if not m or not path.is_file():
            continue
        require_inside(path, root)
        key = (m["prefix"], m["kind"].lower())
        if key in found:
            raise DataError(f"{path}: duplicates {found[key].name}; keep only one of them")
        found[key] = path
    if not found:
        raise DataError(
            f"{root}: no IDX files; expected *images-idx3-ubyte[.gz] with "
            f"matching *labels-idx1-ubyte[.gz]"
        )
    pairs = []
    for (prefix, kind), path in found.items():
        other = "labels" if kind == "images" else "images"
        if (prefix, other) not in found:
            raise DataError(
                f"{path}: has no matching {prefix}{other}-idx"
                f"{'1' if other == 'labels' else '3'}-ubyte[.gz] in {root}"
            )
        if kind == "images":
            pairs.append((path, found[(prefix, "labels")]))
    return sorted(pairs)


def load_idx_dir(root: Path) -> ImageSet:
    """Load every images/labels IDX pair in `root` (sorted by name) into one ImageSet.

    MNIST's train-* and t10k-* pairs are concatenated in that sorted order (t10k
    first); prepare makes its own split. Class names are the sorted unique labels.
    """
    root = Path(root)
    xs, ys = [], []
    for images_path, labels_path in find_idx_pairs(root):
        x = read_idx(images_path, IMAGES_MAGIC)  # (N, H, W)
        y = read_idx(labels_path, LABELS_MAGIC)  # (N,)
        if len(x) != len(y):
            raise DataError(
                f"{images_path}: holds {len(x)} images but {labels_path.name} "
                f"holds {len(y)} labels; they must agree"
            )
        if xs and x.shape[1:] != xs[0].shape[1:]:
            raise DataError(
                f"{images_path}: images are {x.shape[1]}x{x.shape[2]} but "
                f"earlier files are {xs[0].shape[1]}x{xs[0].shape[2]}"
            )
        xs.append(x)
        ys.append(y)
    y, names = index_labels(np.concatenate(ys))
    return make_imageset(np.concatenate(xs), y, names, str(root))
