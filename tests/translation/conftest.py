"""Tiny two-domain data and settings for the translation tests (seconds each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genforge.config import FeaturizerConfig
from genforge.translation.domains import Domains, DomainsConfig, embedded_domains
from genforge.translation.train import CycleGanConfig

TINY = dict(batch_size=4, base_channels=4, res_blocks=1, d_channels=4, log_every=1)


def write_png(path: Path, side: int | tuple[int, int], value: int, mode: str = "L") -> Path:
    """An image file with a bright square on black: distinct per `value`."""
    w, h = (side, side) if isinstance(side, int) else side
    arr = np.zeros((h, w), np.uint8)
    arr[h // 4 : h // 2 + value % (h // 2), w // 4 : 3 * w // 4] = 50 + value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "L").convert(mode).save(path)
    return path


def make_layout(root: Path, classes: list[str] | None, per: int = 3, side: int = 12) -> Path:
    """CycleGAN's folder layout: trainA/ trainB/ testA/ testB/, flat or one sub-folder per class."""
    for split in ("trainA", "trainB", "testA", "testB"):
        for c, name in enumerate(classes or [""]):
            for i in range(per):
                write_png(root / split / name / f"{i}.png", side, 10 * c + i)
    return root


@pytest.fixture(scope="session")
def tiny_domains() -> Domains:
    """Handwritten digits at their native 8 px and 20 typeset digits per class."""
    return embedded_domains(DomainsConfig(image_size=8, typeset_per_class=20))


@pytest.fixture
def tiny_cfg():
    def make(**overrides) -> CycleGanConfig:
        return CycleGanConfig(**{**TINY, "steps": 6, **overrides})

    return make


@pytest.fixture
def tiny_featurizer() -> FeaturizerConfig:
    return FeaturizerConfig(steps=60, width=8, feature_dim=16, batch_size=32)
