"""Image helpers shared by training, evaluation, tracking and the report."""

from __future__ import annotations

import io

import torch
from PIL import Image
from torchvision.utils import make_grid

PER_CLASS_ROW = 8


def grid_samples(model, seed: int = 0, n: int = 64) -> torch.Tensor:
    """Fixed-seed samples for a grid: conditional models give one row per class."""
    gen = torch.Generator().manual_seed(seed)
    if model.cfg.conditional:
        labels = torch.arange(model.num_classes).repeat_interleave(PER_CLASS_ROW)
        return model.sample(labels.numel(), labels=labels, generator=gen)
    return model.sample(n, generator=gen)


def grid_image(images: torch.Tensor, nrow: int = PER_CLASS_ROW, scale: int = 2) -> Image.Image:
    """uint8 (N, C, H, W) -> one PIL image, upscaled `scale`x (nearest) for legibility."""
    grid = make_grid(images, nrow=nrow, padding=1, pad_value=64)  # (3, H', W'): grey is repeated
    img = Image.fromarray(grid.permute(1, 2, 0).numpy())
    if images.shape[1] == 1:
        img = img.convert("L")
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
