"""`prepare` in bounded memory: the decoded set and its test split, never several copies."""

from __future__ import annotations

import tracemalloc

import numpy as np

from genforge.data.ingest import ingest
from genforge.data.npz import save_npz
from genforge.data.prepare import (
    load_prepared,
    prepare,
    stratified_split,
    take_rows_inplace,
)


def test_take_rows_inplace_is_fancy_indexing_without_the_copy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (1000, 4, 4, 3), dtype=np.uint8)
    idx = np.sort(rng.choice(1000, 700, replace=False))
    want = x[idx]
    got = take_rows_inplace(x, idx, chunk=64)  # many chunks, each reading ahead of itself
    assert np.array_equal(got, want) and np.shares_memory(got, x)


def test_prepare_holds_the_set_and_its_test_split_at_most(data_cfg, tmp_path):
    """40k 16x16 RGB images (31 MB): prepare peaks under 1.5x that plus the npz writer's
    16 MB chunk; it held ~3.8x before (a cap copy, both splits, a tobytes copy to hash)."""
    n, side = 40_000, 16
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    y = np.arange(n, dtype=np.int64) % 4
    save_npz(tmp_path / "big.npz", x=x, y=y)
    cfg = data_cfg(source="npz", path=str(tmp_path / "big.npz"), image_size=side, channels=3)
    ingest(cfg, tmp_path / "raw")
    tracemalloc.start()
    try:
        meta = prepare(cfg, tmp_path / "raw", tmp_path / "prepared")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * x.nbytes + 20 * 2**20, f"prepare peaked at {peak / 2**20:.0f} MB"
    # and the files hold what plain indexing of the stratified split gives
    train, test = stratified_split(y, meta["class_names"], 0.2, 0, "")
    for split, idx in (("train", train), ("test", test)):
        xs, ys = load_prepared(tmp_path / "prepared", split)
        assert np.array_equal(xs, x[idx]) and np.array_equal(ys, y[idx])
