"""Standard Inception features from a local weights file (random weights written by the test).

Nothing is downloaded: torch-fidelity's `inception-v3-compat` is built from
``evaluate.extractor_weights`` via `feature_extractor_weights_path`, and the cache
key carries that file's hash.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from genforge.config import validate
from genforge.evaluation.extractor import INCEPTION, resolve_extractor
from genforge.evaluation.featurizer import FeaturizerError, file_sha256
from genforge.evaluation.scoring import load_judge
from tests.conftest import tiny_params
from tests.evaluation.conftest import build_tree


def random_extractor_weights(path, monkeypatch) -> None:
    """A state dict of torch-fidelity's InceptionV3 at its random initialisation."""
    empty = path.with_suffix(".empty")
    torch.save({}, empty)
    with monkeypatch.context() as m:  # skip loading the (absent) pretrained weights
        m.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = FeatureExtractorInceptionV3(
            INCEPTION, ["2048"], feature_extractor_weights_path=str(empty)
        )
    torch.save(net.state_dict(), path)


@pytest.mark.slow
def test_inception_path_scores_with_local_weights(tmp_path, monkeypatch):
    torch.manual_seed(0)
    weights = tmp_path / "inception.pth"
    random_extractor_weights(weights, monkeypatch)
    # the smallest dataset with a test split: 4 shapes classes x 2 images (4 train), 8x8 RGB
    params = tiny_params(
        ["vae"],
        data={
            "shapes": {
                "shapes": ["circle", "square"],
                "colours": ["red", "blue"],
                "per_class": 2,
                "canvas": 16,
            }
        },
        featurizer={
            "steps": 20,
            "batch_size": 8,
            "width": 4,
            "feature_dim": 8,
            "min_test_accuracy": 0.0,
        },
        evaluate={
            "feature_extractor": "inception",
            "extractor_weights": str(weights),
            "n_samples": 10,
            # no FID interval: each resample is a 2048 x 2048 matrix square root (about
            # 4/5 of this test's time at 5 resamples); the interval is tested elsewhere
            "bootstrap": 0,
            "c2st_max_iter": 20,
        },
    )
    root = build_tree(tmp_path, params)
    judge = load_judge(
        params.evaluate, root / "data/prepared", root / "models/featurizer", tmp_path / "cache"
    )
    assert judge.extractor.name == INCEPTION and judge.extractor.rgb
    assert judge.extractor.sha256 == file_sha256(weights)
    x, y = judge.train
    m = judge.score(x, y, seed=0).metrics
    assert abs(m["fid"]) < 1e-3 and m["precision"] == m["recall"] == 1.0
    cached = [p.name for p in (tmp_path / "cache").iterdir()]
    assert any(judge.real_name in n and "inception-v3-compat-features-2048" in n for n in cached)


def test_inception_without_a_local_file_is_a_clear_error(tmp_path):
    cfg = validate(
        {
            "evaluate": {
                "feature_extractor": "inception",
                "extractor_weights": str(tmp_path / "nope.pth"),
            }
        }
    ).evaluate
    with pytest.raises(FeaturizerError, match="evaluate.extractor_weights: .* is not a file"):
        resolve_extractor(cfg, tmp_path)


def random_clip_file(path) -> None:
    """A TorchScript file shaped like OpenAI's CLIP releases (a small random ViT)."""
    from torch_fidelity.feature_extractor_clip import CLIPVisual

    class Released(torch.nn.Module):  # the keys torch-fidelity's build_model reads
        def __init__(self):
            super().__init__()
            self.visual = CLIPVisual(16, 32, 1, 64, 16).visual
            self.text_projection = torch.nn.Parameter(torch.zeros(8, 16))

        def forward(self, x):
            return self.visual(x)

    torch.jit.save(torch.jit.trace(Released().eval(), torch.zeros(1, 3, 32, 32)), str(path))


@pytest.mark.slow
def test_clip_features_from_a_local_file_calibrate_and_score(tmp_path):
    """CLIP from a local file (never downloaded): the featurizer stage calibrates with it,
    the cache key carries the file's hash, and a set scored against itself is perfect."""
    torch.manual_seed(0)
    weights = tmp_path / "ViT-B-32.pt"
    random_clip_file(weights)
    params = tiny_params(
        ["vae"],
        featurizer={
            "steps": 20,
            "batch_size": 8,
            "width": 4,
            "feature_dim": 8,
            "min_test_accuracy": 0,
        },
        evaluate={
            "feature_extractor": "clip-vit-b-32",
            "extractor_weights": str(weights),
            "n_samples": 12,
            "bootstrap": 5,
            "c2st_max_iter": 20,
        },
    )
    root = build_tree(tmp_path, params)
    table = json.loads((root / "models/featurizer/calibration.json").read_text())
    assert table["extractor"] == f"clip-vit-b-32:{file_sha256(weights)[:12]}"
    judge = load_judge(
        params.evaluate, root / "data/prepared", root / "models/featurizer", tmp_path / "cache"
    )
    assert judge.extractor.rgb and judge.extractor.sha256 == file_sha256(weights)
    x, y = judge.train
    m = judge.score(x, y, seed=0).metrics
    assert abs(m["fid"]) < 1e-3 and m["precision"] == m["recall"] == 1.0
