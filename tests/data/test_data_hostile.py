"""Hostile or accidental inputs: each is one DataError naming the file, decoded in bounded
memory, with nothing written. The tests make the files themselves (small on disk)."""

from __future__ import annotations

import gzip
import os
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image
from tests.data.conftest import idx_bytes

from genforge.data.errors import DataError
from genforge.data.idx import load_idx_dir
from genforge.data.images import decode_image, load_folder
from genforge.data.ingest import ingest

MiB = 2**20


def write_gzip_bomb(path: Path, header: bytes, zeros: int) -> None:
    """`header` then `zeros` zero bytes, gzipped: ~1000x smaller on disk than in memory."""
    chunk = bytes(MiB)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        for _ in range(zeros // MiB):
            f.write(chunk)


def write_png(path: Path, width: int, height: int) -> None:
    """A valid all-black 1-bit PNG; PIL decodes it into one byte per pixel."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    path.write_bytes(png)


def test_gzip_bomb_idx_is_refused_in_bounded_memory(tmp_path, data_cfg):
    """A valid header for 10 images of 8x8, then 256 MiB of zeros (256 KiB on disk)."""
    src = tmp_path / "idx"
    src.mkdir()
    x = np.zeros((10, 8, 8), np.uint8)
    bomb = src / "train-images-idx3-ubyte.gz"
    write_gzip_bomb(bomb, idx_bytes(0x803, x), 256 * MiB)
    (src / "train-labels-idx1-ubyte").write_bytes(idx_bytes(0x801, np.zeros(10, np.uint8)))
    assert bomb.stat().st_size < 2 * MiB
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=rf"{bomb}: .*more data than its header"):
            load_idx_dir(src)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB, f"peak {peak / MiB:.0f} MiB"
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match=str(bomb)):
        ingest(data_cfg(source="mnist-idx", path=str(src)), raw)
    assert not raw.exists() and not list(tmp_path.glob(".raw*"))


def test_idx_header_claiming_terabytes_is_refused_before_reading(tmp_path):
    src = tmp_path / "idx"
    src.mkdir()
    huge = struct.pack(">IIII", 0x803, 2**31, 2**12, 2**12)  # 2^55 bytes of images
    (src / "train-images-idx3-ubyte").write_bytes(huge + bytes(64))
    (src / "train-labels-idx1-ubyte").write_bytes(idx_bytes(0x801, np.zeros(1, np.uint8)))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: header claims .* at most"):
        load_idx_dir(src)


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_decompression_bomb_png_is_refused_before_decoding(tmp_path, side):
    """10,000^2 px: PIL only warns (under 2x its limit) and decodes ~100 MB per image;
    20,000^2 px (400 Mpx, 50 KiB on disk): PIL itself refuses; both are one DataError."""
    path = tmp_path / "big.png"
    write_png(path, side, side)
    assert path.stat().st_size < MiB
    with pytest.raises(DataError, match=rf"{path}: .*pixels.*decompression bomb"):
        decode_image(path, channels=1, size=8)


@pytest.mark.parametrize("what", ["file", "class folder"])
def test_symlinks_out_of_data_path_are_refused(tmp_path, make_folder, data_cfg, what):
    """A link in the dataset would make ingest copy (and DVC push) whatever it points to."""
    root = make_folder({"a": 2, "b": 2})
    outside = make_folder({"secret": 2}, root=tmp_path / "elsewhere")
    if what == "file":
        link = root / "a" / "link.png"
        link.symlink_to(outside / "secret" / "0.png")
    else:
        link = root / "c"
        link.symlink_to(outside / "secret", target_is_directory=True)
    with pytest.raises(DataError, match=rf"{link}: is a symlink to .*outside data.path"):
        load_folder(root, channels=3, image_size=8)
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match=str(link)):
        ingest(data_cfg(source="folder", path=str(root)), raw)
    assert not raw.exists() and not list(tmp_path.glob(".raw*"))


def test_symlinks_inside_data_path_are_fine(make_folder):
    root = make_folder({"a": 2, "b": 2})
    (root / "b" / "again.png").symlink_to(root / "a" / "0.png")
    assert len(load_folder(root, channels=3, image_size=8).y) == 5


def test_other_formats_behind_an_image_suffix_are_refused(tmp_path, solid_image):
    """PIL opens some 40 formats by content, whatever the suffix says."""
    path = tmp_path / "x.png"
    solid_image("RGB", (6, 6), 80).save(path, format="TIFF")
    with pytest.raises(
        DataError, match=rf"{path}: .*not a readable BMP, GIF, JPEG, PNG or WEBP file"
    ):
        decode_image(path, channels=3, size=8)


def test_eps_never_reaches_ghostscript(tmp_path, monkeypatch, solid_image):
    """EPS decoding runs Ghostscript (a PostScript interpreter) when it is installed: a
    canary `gs` on PATH records whether PIL ever called it."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "gs-ran"
    bin_dir.mkdir()
    (bin_dir / "gs").write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    (bin_dir / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # PIL caches its search
    path = tmp_path / "x.png"
    solid_image("L", (6, 6), 80).save(path, format="EPS")
    with pytest.raises(DataError, match=rf"{path}: "):
        decode_image(path, channels=1, size=8)
    assert not marker.exists()
    assert Image.open(path).format == "EPS"  # the file really is EPS
