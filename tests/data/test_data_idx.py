"""The `mnist-idx` source: IDX pairs, gzipped or plain, with header checks."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from genforge.data import DataError
from genforge.data.idx import load_idx_dir


def _digits(n: int, offset: int = 0, size: int = 5) -> tuple[np.ndarray, np.ndarray]:
    y = (np.arange(n) + offset) % 10
    x = np.broadcast_to((y * 20).astype(np.uint8)[:, None, None], (n, size, size)).copy()
    return x, y.astype(np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_loads_a_pair(tmp_path, make_idx, gz):
    x, y = _digits(12)
    make_idx(tmp_path / "mnist", "train-", x, y, gz=gz)
    got_x, got_y, names = load_idx_dir(tmp_path / "mnist")
    assert got_x.shape == (12, 5, 5, 1) and got_x.dtype == np.uint8
    assert names == [str(d) for d in range(10)]
    assert got_y.dtype == np.int64 and got_y.tolist() == y.tolist()
    assert (got_x[..., 0] == x).all()


def test_concatenates_pairs_sorted_by_name_mixing_gz_and_plain(tmp_path, make_idx):
    x_train, y_train = _digits(10)
    x_test, y_test = _digits(4, offset=3)
    make_idx(tmp_path / "m", "train-", x_train, y_train, gz=True)
    make_idx(tmp_path / "m", "t10k-", x_test, y_test, gz=False)
    x, y, _ = load_idx_dir(tmp_path / "m")
    assert len(x) == 14
    assert y.tolist() == y_test.tolist() + y_train.tolist()  # "t10k-" sorts before "train-"


def test_sparse_labels_become_contiguous_classes(tmp_path, make_idx):
    x = np.zeros((4, 3, 3), dtype=np.uint8)
    make_idx(tmp_path / "m", "", x, np.array([7, 3, 7, 5], dtype=np.uint8))
    _, y, names = load_idx_dir(tmp_path / "m")
    assert names == ["3", "5", "7"] and y.tolist() == [2, 0, 2, 1]


def test_wrong_magic_number_names_the_file(tmp_path, make_idx):
    images, _ = make_idx(tmp_path / "m", "train-", *_digits(3))
    raw = bytearray(images.read_bytes())
    raw[3] = 0x02  # 0x00000802: a 2-D file where images need 3 dims
    images.write_bytes(bytes(raw))
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte: not an IDX image file "
        r"\(magic number 0x00000802, expected 0x00000803\)",
    ):
        load_idx_dir(tmp_path / "m")


def test_labels_with_image_magic_are_refused(tmp_path, make_idx):
    x, y = _digits(3)
    _, labels = make_idx(tmp_path / "m", "train-", x, y, gz=True)
    labels.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + bytes(16)))
    with pytest.raises(DataError, match=r"labels-idx1-ubyte\.gz: not an IDX label file"):
        load_idx_dir(tmp_path / "m")


def test_truncated_images_report_size_mismatch(tmp_path, make_idx):
    images, _ = make_idx(tmp_path / "m", "train-", *_digits(3))
    images.write_bytes(images.read_bytes()[:-7])
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte: has 68 bytes of data but its "
        r"header \(dims 3x5x5\) says 75",
    ):
        load_idx_dir(tmp_path / "m")


def test_labels_longer_than_header_report_size_mismatch(tmp_path, make_idx):
    _, labels = make_idx(tmp_path / "m", "train-", *_digits(3), gz=True)
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes()) + b"\x01"))
    with pytest.raises(
        DataError,
        match=r"labels-idx1-ubyte\.gz: has 4 bytes of data but its "
        r"header \(dims 3\) says 3",
    ):
        load_idx_dir(tmp_path / "m")


def test_image_and_label_counts_must_agree(tmp_path, make_idx):
    x, _ = _digits(4)
    make_idx(tmp_path / "m", "train-", x, np.zeros(3, dtype=np.uint8))
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte: holds 4 images but "
        r"train-labels-idx1-ubyte holds 3 labels",
    ):
        load_idx_dir(tmp_path / "m")


def test_images_without_labels_are_named(tmp_path, make_idx):
    images, labels = make_idx(tmp_path / "m", "train-", *_digits(3))
    labels.unlink()
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte: has no matching "
        r"train-labels-idx1-ubyte",
    ):
        load_idx_dir(tmp_path / "m")


def test_corrupt_gzip_is_named(tmp_path, make_idx):
    images, _ = make_idx(tmp_path / "m", "train-", *_digits(3), gz=True)
    images.write_bytes(b"definitely not gzip")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: cannot read"):
        load_idx_dir(tmp_path / "m")


def test_folder_without_idx_files_is_reported(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "readme.txt").write_text("nothing")
    with pytest.raises(DataError, match=r"m: no IDX files; expected \*images-idx3-ubyte"):
        load_idx_dir(tmp_path / "m")


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(DataError, match=r"absent: no such directory"):
        load_idx_dir(tmp_path / "absent")
