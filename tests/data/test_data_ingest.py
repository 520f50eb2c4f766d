"""`ingest`: snapshot formats, verbatim copies, atomic replacement, and `load_raw`."""

from __future__ import annotations

import numpy as np
import pytest

from genforge.data import DataError, load_raw, load_source
from genforge.data.ingest import ingest

SMALL_SHAPES = {"shapes": ["circle"], "colours": ["red", "green"], "per_class": 3, "canvas": 8}


def _tree(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_shapes_snapshot_is_one_npz_that_load_raw_reads_back(data_cfg, tmp_path):
    cfg = data_cfg(source="shapes", shapes=SMALL_SHAPES, seed=5)
    summary = ingest(cfg, tmp_path / "raw")
    assert _tree(tmp_path / "raw") == ["shapes.npz"]
    assert summary["images"] == 6 and summary["classes"] == 2 and summary["files"] == 1
    x, y, names = load_raw(cfg, tmp_path / "raw")
    fresh = load_source(cfg)
    assert (x == fresh.x).all() and (y == fresh.y).all() and names == fresh.class_names


def test_generated_snapshot_bytes_do_not_depend_on_the_run(data_cfg, tmp_path):
    cfg = data_cfg(source="shapes", shapes=SMALL_SHAPES)
    ingest(cfg, tmp_path / "a")
    ingest(cfg, tmp_path / "b")
    assert (tmp_path / "a/shapes.npz").read_bytes() == (tmp_path / "b/shapes.npz").read_bytes()


def test_digits_snapshot(data_cfg, tmp_path):
    cfg = data_cfg(source="digits")
    assert ingest(cfg, tmp_path / "raw")["images"] == 1797
    assert load_raw(cfg, tmp_path / "raw").x.shape == (1797, 8, 8, 1)


def test_folder_snapshot_copies_only_images_keeping_class_folders(data_cfg, make_folder, tmp_path):
    src = make_folder({"cat": 2, "dog": 2})
    (src / "cat" / "notes.txt").write_text("ignored")
    (src / ".hidden").mkdir()
    cfg = data_cfg(source="folder", path=str(src), image_size=6, channels=3)
    summary = ingest(cfg, tmp_path / "raw")
    assert _tree(tmp_path / "raw") == ["cat/0.png", "cat/1.png", "dog/0.png", "dog/1.png"]
    assert (tmp_path / "raw/dog/1.png").read_bytes() == (src / "dog/1.png").read_bytes()
    assert summary["class_names"] == ["cat", "dog"]
    x, y, _ = load_raw(cfg, tmp_path / "raw")
    assert x.shape == (4, 6, 6, 3) and y.tolist() == [0, 0, 1, 1]


def test_idx_snapshot_copies_the_pairs_verbatim(data_cfg, make_idx, tmp_path):
    x = np.zeros((3, 4, 4), dtype=np.uint8)
    make_idx(tmp_path / "mnist", "train-", x, np.array([0, 1, 1], np.uint8), gz=True)
    (tmp_path / "mnist" / "README").write_text("not copied")
    cfg = data_cfg(source="mnist-idx", path=str(tmp_path / "mnist"))
    ingest(cfg, tmp_path / "raw")
    assert _tree(tmp_path / "raw") == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert load_raw(cfg, tmp_path / "raw").y.tolist() == [0, 1, 1]


def test_npz_snapshot_is_a_verbatim_copy(data_cfg, toy_arrays, tmp_path):
    x, y = toy_arrays()
    np.savez_compressed(tmp_path / "mine.npz", x=x, y=y)
    cfg = data_cfg(source="npz", path=str(tmp_path / "mine.npz"))
    ingest(cfg, tmp_path / "raw")
    assert (tmp_path / "raw/mine.npz").read_bytes() == (tmp_path / "mine.npz").read_bytes()
    assert (load_raw(cfg, tmp_path / "raw").x == x).all()


def test_reingest_replaces_the_whole_snapshot(data_cfg, toy_arrays, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "stale.npz").write_bytes(b"old")
    ingest(data_cfg(source="shapes", shapes=SMALL_SHAPES), tmp_path / "raw")
    assert _tree(tmp_path / "raw") == ["shapes.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # no temp dirs left behind


def test_bad_source_leaves_existing_snapshot_untouched(data_cfg, make_folder, tmp_path):
    good = data_cfg(source="shapes", shapes=SMALL_SHAPES)
    ingest(good, tmp_path / "raw")
    before = (tmp_path / "raw/shapes.npz").read_bytes()
    src = make_folder({"cat": 2})
    (src / "cat" / "2.png").write_bytes(b"broken")
    with pytest.raises(DataError, match=r"cat/2\.png: cannot decode image"):
        ingest(data_cfg(source="folder", path=str(src)), tmp_path / "raw")
    assert _tree(tmp_path / "raw") == ["shapes.npz"]
    assert (tmp_path / "raw/shapes.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "raw"]


def test_source_inside_the_snapshot_dir_is_refused(data_cfg, make_folder, tmp_path):
    src = make_folder({"cat": 2}, root=tmp_path / "raw" / "imgs")
    with pytest.raises(DataError, match=r"overlaps the raw snapshot directory"):
        ingest(data_cfg(source="folder", path=str(src)), tmp_path / "raw")


def test_missing_source_path_is_named(data_cfg, tmp_path):
    cfg = data_cfg(source="npz", path=str(tmp_path / "gone.npz"))
    with pytest.raises(DataError, match=r"gone\.npz: no such file"):
        ingest(cfg, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_load_raw_without_snapshot_says_to_ingest(data_cfg, tmp_path):
    with pytest.raises(DataError, match=r"raw: no such directory; run `genforge ingest` first"):
        load_raw(data_cfg(source="digits"), tmp_path / "raw")
    (tmp_path / "raw").mkdir()
    with pytest.raises(DataError, match=r"raw/shapes\.npz: no such file; run `genforge ingest`"):
        load_raw(data_cfg(source="shapes"), tmp_path / "raw")
