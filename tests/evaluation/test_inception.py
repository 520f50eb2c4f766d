"""Standard Inception features from a local weights file (random weights written by the test).

Nothing is downloaded: torch-fidelity's `inception-v3-compat` is built from
``evaluate.inception_weights`` via `feature_extractor_weights_path`, and the cache
key carries that file's hash.
"""

from __future__ import annotations

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from genforge.config import validate
from genforge.evaluation.extractor import INCEPTION, resolve_extractor
from genforge.evaluation.featurizer import FeaturizerError, file_sha256
from genforge.evaluation.scoring import load_judge
from tests.conftest import tiny_params
from tests.evaluation.conftest import build_tree


def random_inception_weights(path, monkeypatch) -> None:
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
    random_inception_weights(weights, monkeypatch)
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
            "inception_weights": str(weights),
            "n_samples": 10,
            "bootstrap": 5,
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
                "inception_weights": str(tmp_path / "nope.pth"),
            }
        }
    ).evaluate
    with pytest.raises(FeaturizerError, match="evaluate.inception_weights: .* is not a file"):
        resolve_extractor(cfg, tmp_path)
