"""`prepare`: fixed-size stratified splits, meta.json, reproducible bytes, clear failures."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from genforge.data import DataError, load_meta, load_prepared
from genforge.data.ingest import ingest
from genforge.data.prepare import content_hash, prepare

FILES = ("train.npz", "test.npz", "meta.json")


@pytest.fixture
def npz_snapshot(data_cfg, toy_arrays, tmp_path):
    """Ingest a toy npz (3 classes) and return a cfg factory for it plus the raw dir."""

    def make(n_per_class: int = 10, classes: int = 3, **params):
        x, y = toy_arrays(n_per_class=n_per_class, classes=classes)
        np.savez(tmp_path / "toy.npz", x=x, y=y)
        cfg = data_cfg(source="npz", path=str(tmp_path / "toy.npz"), **params)
        ingest(cfg, tmp_path / "raw")
        return cfg, tmp_path / "raw"

    return make


def _digests(folder) -> dict[str, str]:
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in FILES}


def test_writes_splits_and_meta(npz_snapshot, tmp_path):
    cfg, raw = npz_snapshot(image_size=4, test_fraction=0.2)
    meta = prepare(cfg, raw, tmp_path / "prepared")
    x_train, y_train = load_prepared(tmp_path / "prepared", "train")
    x_test, y_test = load_prepared(tmp_path / "prepared", "test")
    assert x_train.shape == (24, 4, 4, 1) and x_test.shape == (6, 4, 4, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert load_meta(tmp_path / "prepared") == meta
    assert meta["image_shape"] == [4, 4, 1] and meta["num_classes"] == 3
    assert meta["class_names"] == ["0", "1", "2"] and meta["source"] == "npz"
    assert meta["counts"] == {"train": 24, "test": 6}
    assert meta["class_counts"]["test"] == {"0": 2, "1": 2, "2": 2}
    assert meta["params"]["image_size"] == 4 and meta["params"]["test_fraction"] == 0.2
    splits = {"train": {"x": x_train, "y": y_train}, "test": {"x": x_test, "y": y_test}}
    assert meta["sha256"] == content_hash(splits)
    # labels still match pixels after resizing: toy images encode their class as 60 y + 30
    assert (x_train[:, 0, 0, 0] == 60 * y_train + 30).all()


def test_resize_and_channel_conversion(data_cfg, tmp_path):
    cfg = data_cfg(source="digits", image_size=12, channels=3, max_per_class=4)
    ingest(cfg, tmp_path / "raw")
    prepare(cfg, tmp_path / "raw", tmp_path / "prepared")
    x, _ = load_prepared(tmp_path / "prepared", "train")
    assert x.shape[1:] == (12, 12, 3)
    assert (x[..., 0] == x[..., 1]).all() and (x[..., 1] == x[..., 2]).all()  # grey as RGB


def test_every_class_lands_in_both_splits_even_when_small(npz_snapshot, tmp_path):
    # 2 images per class and 5% test: a plain proportional split would give some
    # classes no test image at all.
    cfg, raw = npz_snapshot(n_per_class=2, classes=7, test_fraction=0.05)
    meta = prepare(cfg, raw, tmp_path / "prepared")
    for split in ("train", "test"):
        assert all(n == 1 for n in meta["class_counts"][split].values())


def test_max_per_class_caps_each_class(npz_snapshot, tmp_path):
    cfg, raw = npz_snapshot(n_per_class=10, max_per_class=5, test_fraction=0.4)
    meta = prepare(cfg, raw, tmp_path / "prepared")
    assert meta["raw_images"] == 30
    assert meta["class_counts"]["train"] == {"0": 3, "1": 3, "2": 3}
    assert meta["class_counts"]["test"] == {"0": 2, "1": 2, "2": 2}


def test_same_params_give_byte_identical_files(data_cfg, tmp_path, monkeypatch):
    shapes = {"shapes": ["circle", "cross"], "colours": ["red"], "per_class": 8, "canvas": 8}
    cfg = data_cfg(source="shapes", shapes=shapes, image_size=8, channels=3, seed=7)
    ingest(cfg, tmp_path / "raw")
    prepare(cfg, tmp_path / "raw", tmp_path / "a")
    later = time.time() + 3 * 86400  # a zip header stamped with the wall time would differ
    monkeypatch.setattr(time, "time", lambda: later)
    prepare(cfg, tmp_path / "raw", tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    monkeypatch.undo()
    other = data_cfg(source="shapes", shapes=shapes, image_size=8, channels=3, seed=8)
    prepare(other, tmp_path / "raw", tmp_path / "c")  # same snapshot, another split
    assert _digests(tmp_path / "a")["train.npz"] != _digests(tmp_path / "c")["train.npz"]


def test_too_few_images_names_the_class(npz_snapshot, tmp_path):
    cfg, raw = npz_snapshot(n_per_class=1, classes=2)
    with pytest.raises(
        DataError,
        match=r"raw: class '0' has 1 image\(s\); the train/test split "
        r"needs at least 2 per class",
    ):
        prepare(cfg, raw, tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_failure_leaves_previous_output_untouched(npz_snapshot, data_cfg, tmp_path):
    cfg, raw = npz_snapshot()
    prepare(cfg, raw, tmp_path / "prepared")
    before = _digests(tmp_path / "prepared")
    with pytest.raises(DataError):
        prepare(data_cfg(source="shapes"), raw, tmp_path / "prepared")  # no shapes snapshot
    assert _digests(tmp_path / "prepared") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared", "raw", "toy.npz"]


def test_folder_end_to_end(data_cfg, make_folder, tmp_path):
    src = make_folder({"a": 3, "b": 3})
    cfg = data_cfg(source="folder", path=str(src), image_size=4, channels=1, test_fraction=0.34)
    ingest(cfg, tmp_path / "raw")
    meta = prepare(cfg, tmp_path / "raw", tmp_path / "prepared")
    assert meta["class_names"] == ["a", "b"] and meta["image_shape"] == [4, 4, 1]
    assert meta["counts"] == {"train": 4, "test": 2}


def test_loaders_say_to_run_prepare_first(tmp_path):
    with pytest.raises(DataError, match=r"train\.npz: no such file; run `genforge prepare` first"):
        load_prepared(tmp_path, "train")
    with pytest.raises(DataError, match=r"meta\.json: no such file; run `genforge prepare` first"):
        load_meta(tmp_path)
    with pytest.raises(ValueError, match=r"split 'val' is not one of train, test"):
        load_prepared(tmp_path, "val")
