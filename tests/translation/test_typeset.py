"""Typeset digits: deterministic, ten classes, jittered, white on black like the handwritten set."""

from __future__ import annotations

import numpy as np

from genforge.translation.typeset import make_typeset


def test_rendering_is_deterministic_per_seed():
    a, b = make_typeset(5, 16, seed=3), make_typeset(5, 16, seed=3)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, make_typeset(5, 16, seed=4).x)


def test_ten_classes_with_jitter_within_a_class():
    s = make_typeset(6, 16, seed=0)
    assert s.class_names == [str(d) for d in range(10)]
    assert np.bincount(s.y).tolist() == [6] * 10
    for d in range(10):
        imgs = s.x[s.y == d].reshape(6, -1).astype(int)
        assert len({im.tobytes() for im in s.x[s.y == d]}) == 6  # no two alike
        assert np.abs(imgs - imgs.mean(0)).mean() > 5  # size/stroke/position/rotation vary


def test_ink_is_white_on_black_at_the_requested_size_and_channels():
    s = make_typeset(2, 32, seed=0, channels=3)
    assert s.x.shape == (20, 32, 32, 3) and s.x.dtype == np.uint8
    assert s.x[:, 0, :].mean() < 10 and s.x.max() > 200  # dark border, bright strokes
    assert np.array_equal(s.x[..., 0], s.x[..., 2])  # grey repeated to RGB


def test_no_jitter_gives_one_image_per_digit_and_font():
    s = make_typeset(40, 16, seed=0, size_jitter=0, shift_jitter=0, max_rotation=0, max_stroke=0)
    for d in range(10):
        assert len({im.tobytes() for im in s.x[s.y == d]}) <= 4  # the four font variants
