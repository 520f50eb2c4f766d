"""Model families, one file each, registered in a plain dict.

A new family is one module subclassing `GenerativeModel` plus one line here.
"""

from __future__ import annotations

from genforge.models.base import GenerativeModel, Optimizers
from genforge.models.diffusion import Diffusion
from genforge.models.gan import Gan
from genforge.models.pixelcnn import PixelCnn
from genforge.models.vae import Vae
from genforge.models.vaegan import VaeGan

REGISTRY: dict[str, type[GenerativeModel]] = {
    "gan": Gan,
    "vae": Vae,
    "diffusion": Diffusion,
    "pixelcnn": PixelCnn,
    "vaegan": VaeGan,
}


def build(family: str, cfg, image_shape: tuple[int, int, int], num_classes: int) -> GenerativeModel:
    """Instantiate `family` from its params section; unknown names raise a clear KeyError."""
    if family not in REGISTRY:
        raise KeyError(f"unknown family {family!r}; registered: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[family](cfg, image_shape, num_classes)


__all__ = ["REGISTRY", "GenerativeModel", "Optimizers", "build"]
