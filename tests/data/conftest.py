"""Small on-disk datasets the data tests build in tmp_path: image folders, IDX files, npz."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genforge.config import DataConfig


@pytest.fixture
def data_cfg() -> Callable[..., DataConfig]:
    """Build a strict DataConfig from keyword overrides, the way params.yaml would."""

    def make(**overrides: Any) -> DataConfig:
        return DataConfig.model_validate(overrides)

    return make


def _solid_image(mode: str, size: tuple[int, int], value: int) -> Image.Image:
    if mode in ("L", "P"):
        img = Image.new("L", size, value)
        return img.convert("P") if mode == "P" else img
    if mode == "LA":
        return Image.new("LA", size, (value, 255))
    if mode == "RGBA":
        return Image.new("RGBA", size, (value, value // 2, 0, 255))
    return Image.new(mode, size, (value, value // 2, 0))


@pytest.fixture
def solid_image() -> Callable[[str, tuple[int, int], int], Image.Image]:
    """solid_image(mode, (width, height), value): an image with every pixel set from value."""
    return _solid_image


@pytest.fixture
def make_folder(tmp_path: Path) -> Callable[..., Path]:
    """Write a class-per-sub-folder PNG dataset; returns its root.

    `classes` maps class name -> number of images (solid 6x6 RGB PNGs whose value
    encodes the class), so tests can also check labels from pixel values.
    """

    def make(classes: dict[str, int], root: Path | None = None) -> Path:
        root = root or tmp_path / "images"
        for c, (name, count) in enumerate(classes.items()):
            (root / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                _solid_image("RGB", (6, 6), 40 * (c + 1)).save(root / name / f"{i}.png")
        return root

    return make


def idx_bytes(magic: int, array: np.ndarray, dims: tuple[int, ...] | None = None) -> bytes:
    """IDX file contents: big-endian magic, the dims (default: array.shape), raw uint8 data."""
    dims = array.shape if dims is None else dims
    header = struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def make_idx() -> Callable[..., tuple[Path, Path]]:
    """Write an images/labels IDX pair named `<prefix>images-idx3-ubyte[.gz]` into a folder."""

    def make(root: Path, prefix: str, x: np.ndarray, y: np.ndarray, gz: bool = False):
        root.mkdir(parents=True, exist_ok=True)
        ext = ".gz" if gz else ""
        pack = gzip.compress if gz else bytes
        images = root / f"{prefix}images-idx3-ubyte{ext}"
        labels = root / f"{prefix}labels-idx1-ubyte{ext}"
        images.write_bytes(pack(idx_bytes(0x803, x)))
        labels.write_bytes(pack(idx_bytes(0x801, y)))
        return images, labels

    return make


def _toy(n_per_class: int = 4, classes: int = 3, size: int = 8, channels: int = 1):
    y = np.repeat(np.arange(classes, dtype=np.int64), n_per_class)
    x = np.zeros((len(y), size, size, channels), dtype=np.uint8)
    x += (y * 60 + 30).astype(np.uint8)[:, None, None, None]
    return x, y


@pytest.fixture
def toy_arrays() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """(x, y): uint8 NHWC images whose pixel value (60 y + 30) encodes the label."""
    return _toy
