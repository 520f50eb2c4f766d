"""The procedural `shapes` source: deterministic per seed, one distinct look per class."""

from __future__ import annotations

import itertools

import numpy as np

from genforge.config import ShapesConfig
from genforge.data.shapes import COLOURS, draw_shape, make_shapes

ALL_SHAPES = ["circle", "square", "triangle", "cross", "ring"]


def _cfg(**overrides) -> ShapesConfig:
    base = {"shapes": ["circle", "ring"], "colours": ["red", "blue"], "per_class": 6, "canvas": 16}
    return ShapesConfig.model_validate(base | overrides)


def test_shapes_and_labels():
    x, y, names = make_shapes(_cfg(), seed=0)
    assert x.shape == (24, 16, 16, 3) and x.dtype == np.uint8
    assert names == ["red-circle", "blue-circle", "red-ring", "blue-ring"]
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [6, 6, 6, 6]


def test_same_seed_same_bytes_other_seed_other_bytes():
    a = make_shapes(_cfg(), seed=3)
    b = make_shapes(_cfg(), seed=3)
    c = make_shapes(_cfg(), seed=4)
    assert a.x.tobytes() == b.x.tobytes() and a.y.tobytes() == b.y.tobytes()
    assert a.x.tobytes() != c.x.tobytes()


def test_every_image_has_a_shape_on_black_background():
    x, _, _ = make_shapes(_cfg(shapes=ALL_SHAPES), seed=0)
    lit = (x.max(axis=-1) > 0).mean(axis=(1, 2))  # fraction of non-black pixels per image
    assert (lit > 0.05).all() and (lit < 0.8).all()


def test_classes_differ_in_mean_colour():
    cfg = _cfg(shapes=["square"], colours=list(COLOURS))
    x, y, names = make_shapes(cfg, seed=0)
    lit = x.max(axis=-1, keepdims=True) > 0
    hue = [
        (x[y == c] * lit[y == c]).sum(axis=(0, 1, 2)) / lit[y == c].sum() for c in range(len(names))
    ]
    for (i, a), (j, b) in itertools.combinations(enumerate(hue), 2):
        assert np.abs(a - b).max() > 100, f"{names[i]} and {names[j]} look alike"


def test_shapes_with_the_same_pose_draw_different_masks():
    params = np.array([16.0, 16.0, 12.0, 0.3])  # centre, radius, rotation
    masks = {s: draw_shape(s, "white", 32, params)[..., 0] > 127 for s in ALL_SHAPES}
    for a, b in itertools.combinations(ALL_SHAPES, 2):
        iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
        assert iou < 0.85, f"{a} and {b} overlap too much (IoU {iou:.2f})"
