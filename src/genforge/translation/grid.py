"""The translation grid: test images of A -> G(A) -> F(G(A)) and B -> F(B) -> G(F(B)).

Six rows of `n` test images each (evenly spaced through each test split, so the
same images every run): A, G(A), F(G(A)), then B, F(B), G(F(B)). Drawn with the
report's grid helper (`genforge.grids.grid_image`) and written atomically.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from genforge.data.atomic import atomic_file
from genforge.grids import grid_image
from genforge.translation.cyclegan import CycleGan
from genforge.translation.domains import Domains
from genforge.translation.train import nchw

ROWS = ("A", "G(A)", "F(G(A))", "B", "F(B)", "G(F(B))")


def translation_rows(model: CycleGan, domains: Domains, n: int = 8) -> torch.Tensor:
    """uint8 (6 * n, C, H, W): the rows of ROWS, n images each (fewer if a test split is smaller)."""
    a, b = nchw(domains, "A", "test"), nchw(domains, "B", "test")
    n = min(n, len(a), len(b))
    # evenly spaced, so the (class-sorted) test splits show every class, the same each run
    a = a[torch.linspace(0, len(a) - 1, n).long()]
    b = b[torch.linspace(0, len(b) - 1, n).long()]
    ga, fb = model.translate(a, "a2b"), model.translate(b, "b2a")
    rows = [a, ga, model.translate(ga, "b2a"), b, fb, model.translate(fb, "a2b")]
    return torch.cat(rows)


def translation_grid(model: CycleGan, domains: Domains, n: int = 8, scale: int = 2) -> Image.Image:
    """The grid as one PIL image (rows of ROWS, `n` columns)."""
    rows = translation_rows(model, domains, n)
    return grid_image(rows, nrow=len(rows) // len(ROWS), scale=scale)


def save_translation_grid(model: CycleGan, domains: Domains, path: Path, n: int = 8) -> Path:
    """Write the grid as a PNG at `path` (renamed into place when complete)."""
    with atomic_file(Path(path)) as tmp:
        translation_grid(model, domains, n).save(tmp, format="PNG")
    return Path(path)
