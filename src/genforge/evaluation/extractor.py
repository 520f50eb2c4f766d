"""Feature extractors for torch-fidelity: the domain classifier, or Inception-v3 from a local file.

The domain classifier (see featurizer.py) is registered into torch-fidelity's
extractor registry as ``genforge-domain``; torch-fidelity builds it with
``feature_extractor_weights_path`` pointing at ``featurizer.pt``, exactly as it
builds its own ``inception-v3-compat`` from a weights file. Images go to
torch-fidelity as an in-memory Dataset of uint8 (C, H, W) tensors; Inception needs
3 channels, so grey images are repeated for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_fidelity import FeatureExtractorBase, register_feature_extractor
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from genforge.config import EvaluateConfig
from genforge.evaluation.featurizer import (
    FeaturizerError,
    file_sha256,
    load_featurizer,
    weights_path,
)

DOMAIN = "genforge-domain"
INCEPTION = "inception-v3-compat"
FEATURES, LOGITS = "features", "logits"


class DomainExtractor(FeatureExtractorBase):
    """torch-fidelity extractor over the domain classifier: penultimate features and logits.

    Accepts uint8 (B, C, H, W) images of the shape the classifier was trained on.
    `images_seen` counts every image featurized in this process (a cache-hit probe).
    """

    images_seen = 0

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if not feature_extractor_weights_path:
            raise FeaturizerError(f"{DOMAIN} needs feature_extractor_weights_path (featurizer.pt)")
        self.net, state = load_featurizer(Path(feature_extractor_weights_path))
        self.image_shape = tuple(state["image_shape"])
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def get_provided_features_list():
        return FEATURES, LOGITS

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return FEATURES

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return None

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if x.dtype != torch.uint8 or x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"{DOMAIN} expects uint8 images of shape (B, {', '.join(map(str, self.image_shape))})"
                f" like its training data, got {x.dtype} {tuple(x.shape)}"
            )
        DomainExtractor.images_seen += len(x)
        features, logits = self.net(x)
        out = {FEATURES: features, LOGITS: logits}
        return tuple(out[name] for name in self.features_list)


if DOMAIN not in FEATURE_EXTRACTORS_REGISTRY:  # module reloads must not re-register
    register_feature_extractor(DOMAIN, DomainExtractor)


class ImageDataset(Dataset):
    """An in-memory image set for torch-fidelity: item i is uint8 (C, H, W)."""

    def __init__(self, images: Tensor, rgb: bool = False):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"expected uint8 images (N, C, H, W), got {images.dtype} {images.shape}"
            )
        self.images = images
        self.rgb = rgb and images.shape[1] == 1

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tensor:
        x = self.images[i]
        return x.expand(3, -1, -1).contiguous() if self.rgb else x


@dataclass(frozen=True)
class Extractor:
    """Which torch-fidelity extractor computes the features, from which weights file."""

    name: str  # torch-fidelity registry name
    weights: str  # local weights file
    sha256: str  # of the weights file: part of every cache key
    rgb: bool  # feed 3 channels

    @property
    def label(self) -> str:
        """Recorded with every metric, e.g. ``genforge-domain:3f2a9c1d04be``."""
        return f"{self.name}:{self.sha256[:12]}"

    def kwargs(self) -> dict[str, Any]:
        """The torch-fidelity keyword arguments selecting this extractor."""
        return {"feature_extractor": self.name, "feature_extractor_weights_path": self.weights}

    def dataset(self, images: Tensor) -> ImageDataset:
        return ImageDataset(images, rgb=self.rgb)


# evaluate.feature_extractor -> (torch-fidelity registry name, what the weights file is)
PRETRAINED = {
    "inception": (INCEPTION, "a torch-fidelity Inception-v3 state dict"),
    **{
        name: (name, "an OpenAI CLIP TorchScript file (e.g. ViT-B-32.pt)")
        for name in ("clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14", "clip-rn50")
    },
}


def resolve_extractor(cfg: EvaluateConfig, featurizer_dir: Path) -> Extractor:
    """The extractor `evaluate.feature_extractor` selects: the domain network, or a
    pretrained one from the local file ``evaluate.extractor_weights``.

    Pretrained weights are never downloaded. DINOv2 is not offered: torch-fidelity
    0.4.0 builds it only through ``torch.hub`` from GitHub (a weights path raises
    NotImplementedError there).
    """
    if cfg.feature_extractor in PRETRAINED:
        name, what = PRETRAINED[cfg.feature_extractor]
        path = Path(cfg.extractor_weights or "")
        if not path.is_file():
            raise FeaturizerError(
                f"evaluate.extractor_weights: {str(path)!r} is not a file; give {what} "
                "(nothing is downloaded)"
            )
        return Extractor(name, str(path), file_sha256(path), rgb=True)
    path = weights_path(featurizer_dir)
    return Extractor(DOMAIN, str(path), file_sha256(path), rgb=False)
