"""The procedural `shapes` source: coloured shapes on black, one class per (colour, shape).

Each image is one shape with a random centre, size and rotation, drawn with numpy
by testing 4x4 sub-pixel samples per pixel against the shape's implicit equation
(antialiased edges, no dependence on a rasteriser's version). Everything comes
from one `numpy.random.Generator` seeded by `data.seed`, drawn in a fixed order,
so a seed gives the same bytes on every run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from genforge.data.imageset import ImageSet, make_imageset

if TYPE_CHECKING:  # config imports the source table, which imports this module
    from genforge.config import ShapesConfig

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "white": (255, 255, 255),
}
SUPERSAMPLE = 4  # sub-samples per pixel side: 16 coverage levels per pixel
RADIUS = (0.25, 0.45)  # shape radius as a fraction of the canvas side
_TRIANGLE_NORMALS = np.deg2rad([270.0, 30.0, 150.0])  # outward normals of the three edges


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of the points (u, v), in units of the shape's radius, inside `shape`."""
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.36)  # inner radius 0.6
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.72  # corners at radius ~1
    if shape == "triangle":
        # equilateral, circumradius 1, so each edge lies at distance 0.5 from the centre
        mask = np.ones(np.broadcast_shapes(u.shape, v.shape), dtype=bool)
        for a in _TRIANGLE_NORMALS:
            mask &= u * np.cos(a) + v * np.sin(a) <= 0.5
        return mask
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))
    raise ValueError(f"unknown shape {shape!r}; known: circle, square, triangle, cross, ring")


def draw_shape(shape: str, colour: str, canvas: int, params: np.ndarray) -> np.ndarray:
    """Draw one shape on a black (canvas, canvas, 3) uint8 image.

    Args:
        shape, colour: names from ShapesConfig.
        canvas: image side in pixels.
        params: (cx, cy, r, theta): centre and radius in pixels, rotation in radians.
    """
    cx, cy, r, theta = params
    image = np.zeros((canvas, canvas, 3), dtype=np.uint8)
    # Only the shape's bounding box is sampled: drawing cost scales with r^2, not canvas^2.
    # Every shape lies within 1.02 r of its centre (the square's corners).
    reach = 1.05 * r
    lo_x, hi_x = max(0, int(cx - reach) - 1), min(canvas, int(cx + reach) + 2)
    lo_y, hi_y = max(0, int(cy - reach) - 1), min(canvas, int(cy + reach) + 2)
    sub_x = lo_x + (np.arange((hi_x - lo_x) * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    sub_y = lo_y + (np.arange((hi_y - lo_y) * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    dx, dy = (sub_x[None, :] - cx) / r, (sub_y[:, None] - cy) / r
    c, s = np.cos(theta), np.sin(theta)
    mask = _inside(shape, c * dx + s * dy, c * dy - s * dx)  # rotate by -theta: (H*S, W*S)
    cover = mask.reshape(hi_y - lo_y, SUPERSAMPLE, hi_x - lo_x, SUPERSAMPLE).mean(axis=(1, 3))
    rgb = np.asarray(COLOURS[colour], dtype=np.float64)
    image[lo_y:hi_y, lo_x:hi_x] = np.round(cover[..., None] * rgb).astype(np.uint8)
    return image


def _sample_params(rng: np.random.Generator, n: int, canvas: int) -> np.ndarray:
    """(n, 4) random (cx, cy, r, theta) with the whole shape inside the canvas."""
    u = rng.random((n, 4))  # one draw per image keeps the stream order obvious
    r = (RADIUS[0] + (RADIUS[1] - RADIUS[0]) * u[:, 0]) * canvas
    cx = r + u[:, 1] * (canvas - 2 * r)
    cy = r + u[:, 2] * (canvas - 2 * r)
    theta = u[:, 3] * 2 * np.pi
    return np.stack([cx, cy, r, theta], axis=1)


def class_names(cfg: ShapesConfig) -> list[str]:
    """Class names in label order: shape-major, e.g. red-circle, green-circle, ..."""
    return [f"{colour}-{shape}" for shape in cfg.shapes for colour in cfg.colours]


def make_shapes(cfg: ShapesConfig, seed: int) -> ImageSet:
    """Generate `cfg.per_class` RGB images for each of the len(shapes) x len(colours) classes.

    Classes are ordered shape-major (see `class_names`); images of a class are
    contiguous. The same `cfg` and `seed` give byte-identical images.
    """
    rng = np.random.default_rng(seed)
    n, canvas = cfg.per_class, cfg.canvas
    x = np.empty((len(cfg.shapes) * len(cfg.colours) * n, canvas, canvas, 3), dtype=np.uint8)
    i = 0
    for shape in cfg.shapes:
        for colour in cfg.colours:
            for params in _sample_params(rng, n, canvas):
                x[i] = draw_shape(shape, colour, canvas, params)
                i += 1
    y = np.repeat(np.arange(len(x) // n, dtype=np.int64), n)
    return make_imageset(x, y, class_names(cfg), "shapes")
