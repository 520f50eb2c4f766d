"""The domain featurizer: trained on the prepared train split, saved safely, checked for accuracy."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from genforge.cli import main
from genforge.data.prepare import load_prepared
from genforge.evaluation.extractor import DOMAIN, DomainExtractor, resolve_extractor
from genforge.evaluation.featurizer import (
    FeaturizerError,
    file_sha256,
    load_featurizer,
    to_nchw,
    train_featurizer,
)
from tests.evaluation.conftest import digits_params


def test_featurizer_is_accurate_and_loads_without_pickles(digits):
    params, root = digits
    out = root / "models/featurizer"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] >= params.featurizer.min_test_accuracy
    net, state = load_featurizer(out)  # torch.load(weights_only=True) inside
    x, y = load_prepared(root / "data/prepared", "test")
    accuracy = (net.predict(to_nchw(x)) == torch.from_numpy(y)).float().mean().item()
    assert accuracy == pytest.approx(metrics["accuracy"], abs=1e-4)
    assert state["data_hash"] == metrics["data_hash"]
    features, logits = net(to_nchw(x[:5]))
    assert features.shape == (5, params.featurizer.feature_dim) and logits.shape == (5, 10)


def test_same_params_give_the_same_weights(digits, tmp_path):
    """Deterministic training: the weights hash, part of every cache key, is stable."""
    params, root = digits
    train_featurizer(params, root / "data/prepared", tmp_path / "again", tmp_path / "cache")
    assert file_sha256(tmp_path / "again/featurizer.pt") == file_sha256(
        root / "models/featurizer/featurizer.pt"
    )


def test_too_low_accuracy_fails_and_writes_nothing(digits, tmp_path):
    params, root = digits
    strict = digits_params(featurizer={"steps": 2, "min_test_accuracy": 1.0})
    with pytest.raises(FeaturizerError, match=r"below featurizer.min_test_accuracy=1.0"):
        train_featurizer(
            strict, root / "data/prepared", tmp_path / "featurizer", tmp_path / "cache"
        )
    assert not (tmp_path / "featurizer").exists()


def test_cli_featurize_writes_the_stage_outputs_and_fails_clearly(
    digits, tmp_path, monkeypatch, capsys
):
    params, root = digits
    shutil.copytree(root / "data/prepared", tmp_path / "data/prepared")
    monkeypatch.chdir(tmp_path)
    raw = params.model_dump(mode="json")
    (tmp_path / "params.yaml").write_text(json.dumps(raw))
    assert main(["featurize"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert (tmp_path / "models/featurizer/featurizer.pt").is_file()
    raw["featurizer"]["min_test_accuracy"] = 1.0
    raw["featurizer"]["steps"] = 2
    (tmp_path / "strict.yaml").write_text(json.dumps(raw))
    assert main(["--params", "strict.yaml", "featurize"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: featurizer test accuracy")


def test_domain_extractor_is_registered_in_torch_fidelity_and_checks_its_input(digits):
    params, root = digits
    assert FEATURE_EXTRACTORS_REGISTRY[DOMAIN] is DomainExtractor
    spec = resolve_extractor(params.evaluate, root / "models/featurizer")
    assert spec.name == DOMAIN and spec.sha256 == file_sha256(
        root / "models/featurizer/featurizer.pt"
    )
    extractor = DomainExtractor(DOMAIN, ["features"], feature_extractor_weights_path=spec.weights)
    (features,) = extractor(torch.zeros(3, 1, 8, 8, dtype=torch.uint8))
    assert features.shape == (3, params.featurizer.feature_dim)
    with pytest.raises(ValueError, match=r"expects uint8 images of shape \(B, 1, 8, 8\)"):
        extractor(torch.zeros(3, 3, 8, 8, dtype=torch.uint8))


def test_missing_featurizer_names_the_command(tmp_path):
    with pytest.raises(FeaturizerError, match="genforge featurize"):
        load_featurizer(tmp_path)
