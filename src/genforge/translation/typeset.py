"""Typeset digits: the embedded second domain, rendered from the DejaVu fonts matplotlib ships.

Each image is one digit drawn white on black (as scikit-learn's handwritten digits
are), on a canvas RENDER_SCALE times the target side, then downscaled with the data
layer's own resize (`images.fit_image`, antialiased). Seeded jitter per image: the
font variant (regular, bold, oblique, bold oblique), an extra stroke width, the glyph
size, its position and a rotation. Same arguments give the same bytes on one machine
(FreeType renders deterministically). The class of every image is its digit, so a
translation's content preservation can be measured.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from genforge.data.errors import DataError
from genforge.data.images import fit_image
from genforge.data.imageset import ImageSet, make_imageset

FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
)
RENDER_SCALE = 4  # draw at 4x the side, then downscale: smooth, antialiased strokes
_STREAM = 2  # the typeset draws' random stream (prepare uses 0 and 1)


def font_dir() -> Path:
    import matplotlib  # a dependency already (report figures); imported only when used

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@cache
def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    path = font_dir() / name
    if not path.is_file():
        raise DataError(
            f"{path}: font not found; the typeset digits need matplotlib's DejaVu fonts"
        )
    return ImageFont.truetype(str(path), px)


def render_digit(
    digit: int,
    side: int,
    font: str,
    height: float,
    stroke: int,
    shift: tuple[float, float],
    angle: float,
) -> np.ndarray:
    """One typeset digit, uint8 (side, side).

    Args:
        height: glyph height as a share of the side (the ink box is centred first).
        stroke: extra stroke width in render pixels (PIL's stroke_width).
        shift: (dx, dy) offset of the glyph as a share of the side.
        angle: rotation in degrees, counter-clockwise.
    """
    canvas = side * RENDER_SCALE
    f = _font(font, max(4, round(height * canvas * 1.35)))  # digit ink ~0.73 of the em size
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    text = str(digit)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=f, stroke_width=stroke)
    x = (canvas - (right - left)) / 2 - left + shift[0] * canvas
    y = (canvas - (bottom - top)) / 2 - top + shift[1] * canvas
    draw.text((x, y), text, fill=255, font=f, stroke_width=stroke, stroke_fill=255)
    img = img.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=0)
    return fit_image(img, side)[..., 0]


def make_typeset(
    per_class: int,
    side: int,
    seed: int,
    height: float = 0.75,
    size_jitter: float = 0.1,
    shift_jitter: float = 0.06,
    max_rotation: float = 12.0,
    max_stroke: int = 2,
    channels: int = 1,
) -> ImageSet:
    """`per_class` typeset images of each digit 0-9, class-sorted, with seeded jitter.

    Glyph height is uniform in `height` +- `size_jitter` of the side, the offset uniform in
    +- `shift_jitter` of the side per axis, the rotation uniform in +- `max_rotation`
    degrees, the font variant uniform over FONTS and the extra stroke uniform in
    0..`max_stroke` render pixels. Grey digits are repeated to 3 channels for RGB.
    """
    rng = np.random.default_rng([seed, _STREAM])
    n = 10 * per_class
    fonts = rng.integers(0, len(FONTS), n)
    heights = rng.uniform(height - size_jitter, height + size_jitter, n)
    shifts = rng.uniform(-shift_jitter, shift_jitter, (n, 2))
    angles = rng.uniform(-max_rotation, max_rotation, n)
    strokes = rng.integers(0, max_stroke + 1, n)
    labels = np.repeat(np.arange(10), per_class)
    x = np.stack(
        [
            render_digit(
                int(d),
                side,
                FONTS[fonts[i]],
                heights[i],
                int(strokes[i]),
                (shifts[i, 0], shifts[i, 1]),
                angles[i],
            )  # fmt: skip
            for i, d in enumerate(labels)
        ]
    )  # (N, side, side)
    x = x[..., None] if channels == 1 else np.repeat(x[..., None], 3, axis=-1)
    return make_imageset(x, labels, [str(d) for d in range(10)], "typeset digits")
