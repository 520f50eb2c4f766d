"""The `digits` and `npz` sources and the `load_source` dispatch (missing paths)."""

from __future__ import annotations

import numpy as np
import pytest

from genforge.data import DataError, load_source
from genforge.data.npz import load_npz, save_npz
from genforge.data.sources import load_digits


def test_digits_are_uint8_nhwc_with_ten_classes():
    x, y, names = load_digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.uint8
    assert x.max() == 255 and x.min() == 0  # 0..16 scaled to 0..255
    assert y.dtype == np.int64 and set(y.tolist()) == set(range(10))
    assert names == [str(d) for d in range(10)]


def test_npz_uint8_with_class_names(tmp_path, toy_arrays):
    x, y = toy_arrays(channels=3)
    np.savez(tmp_path / "d.npz", x=x, y=y, class_names=np.array(["a", "b", "c"]))
    got = load_npz(tmp_path / "d.npz")
    assert got.x.shape == x.shape and (got.x == x).all()
    assert got.y.tolist() == y.tolist() and got.class_names == ["a", "b", "c"]


def test_npz_float_in_unit_range_is_scaled_and_channel_axis_added(tmp_path):
    x = np.array([[[0.0, 0.5], [1.0, 0.25]]] * 2, dtype=np.float32)  # (2, 2, 2)
    np.savez(tmp_path / "f.npz", x=x, y=np.array([4, 9]))
    got_x, got_y, names = load_npz(tmp_path / "f.npz")
    assert got_x.shape == (2, 2, 2, 1) and got_x.dtype == np.uint8
    assert got_x[0, :, :, 0].tolist() == [[0, 128], [255, 64]]
    assert names == ["4", "9"] and got_y.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.full((2, 3, 3), 2.0), r"float x must lie in \[0, 1\], got values in \[2, 2\]"),
        (np.zeros((2, 3, 3), dtype=np.int32), r"x has dtype int32; allowed: uint8"),
        (np.zeros((2, 3, 3, 4), dtype=np.uint8), r"x has 4 channels .* allowed: 1 or 3"),
        (np.zeros((2, 9), dtype=np.uint8), r"x must have shape \(N, H, W\) or \(N, H, W, C\)"),
    ],
)
def test_npz_bad_images_are_refused_clearly(tmp_path, x, message):
    np.savez(tmp_path / "bad.npz", x=x, y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"bad\.npz: " + message):
        load_npz(tmp_path / "bad.npz")


def test_npz_without_x_names_the_file(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 3, 3), np.uint8), y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"d\.npz: has no array 'x' \(found: images, y\)"):
        load_npz(tmp_path / "d.npz")


def test_npz_without_y_names_the_file(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(DataError, match=r"d\.npz: has no array 'y' \(found: x\)"):
        load_npz(tmp_path / "d.npz")


def test_npz_length_mismatch_names_the_file(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"d\.npz: x has 3 images but y has 2 labels"):
        load_npz(tmp_path / "d.npz")


def test_npz_labels_outside_class_names_are_refused(tmp_path):
    x = np.zeros((2, 4, 4), np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 5]), class_names=np.array(["a", "b"]))
    with pytest.raises(DataError, match=r"d\.npz: labels must lie in \[0, 2\)"):
        load_npz(tmp_path / "d.npz")


def test_npz_that_is_not_a_zip_is_named(tmp_path):
    (tmp_path / "d.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"d\.npz: not an npz file"):
        load_npz(tmp_path / "d.npz")


def test_save_npz_round_trips_and_is_readable_by_numpy(tmp_path, toy_arrays):
    x, y = toy_arrays()
    save_npz(tmp_path / "s.npz", x=x, y=y, class_names=np.array(["a", "b", "c"]))
    with np.load(tmp_path / "s.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["class_names", "x", "y"]
        assert (npz["x"] == x).all() and npz["y"].dtype == np.int64


@pytest.mark.parametrize(
    ("source", "path", "kind"),
    [
        ("folder", "no/such/dir", "directory"),
        ("mnist-idx", "no/idx", "directory"),
        ("npz", "no/file.npz", "file"),
    ],
)
def test_missing_path_names_it_and_the_setting(data_cfg, tmp_path, source, path, kind):
    cfg = data_cfg(source=source, path=str(tmp_path / path))
    with pytest.raises(DataError, match=rf"{path}: no such {kind}; data\.path for data\.source"):
        load_source(cfg)


def test_npz_path_that_is_a_directory_is_refused(data_cfg, tmp_path):
    with pytest.raises(DataError, match=r"is a directory, expected a file"):
        load_source(data_cfg(source="npz", path=str(tmp_path)))


def test_the_source_table_is_the_one_list_of_sources(data_cfg, tmp_path):
    """config's data.source choices and its path check come from sources.SOURCES."""
    from typing import get_args

    from genforge.config import DataConfig, ParamsError, validate
    from genforge.data.sources import SOURCES

    assert get_args(DataConfig.model_fields["source"].annotation) == tuple(SOURCES)
    for name, row in SOURCES.items():
        other = {} if row.needs_path else {"path": str(tmp_path)}
        with pytest.raises(ParamsError, match=rf"data\.path .* data\.source is '{name}'"):
            validate({"data": {"source": name, **other}})


@pytest.mark.parametrize("what", ["load_source", "ingest", "load_raw"])
def test_an_unknown_source_is_an_error_naming_the_allowed_ones(tmp_path, what):
    """Past validation (a hand-built config), an unknown source is refused, never read as npz."""
    from genforge.config import DataConfig
    from genforge.data.ingest import ingest, load_raw

    np.savez(tmp_path / "d.npz", x=np.zeros((2, 3, 3), np.uint8), y=np.array([0, 1]))
    (tmp_path / "raw").mkdir()
    cfg = DataConfig.model_construct(source="tiff", path=str(tmp_path / "d.npz"))
    call = {
        "load_source": lambda: load_source(cfg),
        "ingest": lambda: ingest(cfg, tmp_path / "snap"),
        "load_raw": lambda: load_raw(cfg, tmp_path / "raw"),
    }[what]
    with pytest.raises(
        DataError, match=r"data\.source 'tiff' is not a known source; allowed: digits, shapes, "
    ):
        call()
    assert not (tmp_path / "snap").exists()
