"""The metrics mean what they say: identical sets are perfect, noise and mode collapse are not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from genforge.evaluation.diversity import (
    class_histogram,
    class_metrics,
    density_coverage,
    proportional_labels,
)
from genforge.evaluation.fidelity import features, resampled_statistics
from genforge.evaluation.reference import gaussian_images, noise_images
from genforge.evaluation.scoring import METRIC_KEYS, load_judge
from genforge.evaluation.two_sample import c2st


@pytest.fixture(scope="module")
def judge(digits, tmp_path_factory):
    params, root = digits
    cache = tmp_path_factory.mktemp("cache")
    return load_judge(params.evaluate, root / "data/prepared", root / "models/featurizer", cache)


@pytest.fixture(scope="module")
def floor(judge):
    x, y = judge.test
    return judge.score(x, y, seed=0).metrics


def test_identical_sets_are_perfect(judge):
    x, y = judge.train
    m = judge.score(x, y, seed=0).metrics
    assert list(m) == list(METRIC_KEYS)
    assert abs(m["fid"]) < 1e-6
    assert m["precision"] == 1.0 and m["recall"] == 1.0
    assert m["coverage"] == 1.0 and m["density"] == pytest.approx(1.0, abs=0.05)
    assert m["classes_covered"] == 10 and m["class_hist_distance"] == 0.0
    assert m["fid_ci_low"] == 0.0 <= m["fid_ci_high"] < 1.0


def test_noise_scores_clearly_worse_than_real_data(judge, floor):
    n = judge.cfg.n_samples
    noise = judge.score(noise_images((1, 8, 8), n, seed=0), None, seed=0).metrics
    assert noise["fid"] > 20 * max(floor["fid"], 0.1)
    assert noise["recall"] < floor["recall"] - 0.3
    assert noise["coverage"] < floor["coverage"] / 3
    assert noise["c2st_accuracy"] > 0.9 > 0.65 > floor["c2st_accuracy"]
    assert noise["c2st_fooled"] < 0.1 and noise["label_accuracy"] is None


def test_one_class_set_loses_recall_coverage_and_classes(judge, floor):
    x, y = judge.train
    one = judge.score(x[y == 0], None, seed=0).metrics
    assert one["fid"] > 20 * max(floor["fid"], 0.1)
    assert one["recall"] < floor["recall"] / 3
    assert one["coverage"] < floor["coverage"] / 3
    assert one["classes_covered"] == 1 and floor["classes_covered"] == 10
    assert one["class_hist_distance"] > 0.8


def test_per_pixel_gaussian_sits_between_noise_and_real(judge, floor):
    n = judge.cfg.n_samples
    gauss = judge.score(gaussian_images(judge.train[0], n, seed=0), None, seed=0).metrics
    noise = judge.score(noise_images((1, 8, 8), n, seed=0), None, seed=0).metrics
    assert floor["fid"] < gauss["fid"] < noise["fid"]


def test_floor_label_accuracy_is_the_featurizer_accuracy(judge, floor):
    x, y = judge.test
    assert floor["label_accuracy"] == pytest.approx(
        (judge.classifier.predict(x) == y).double().mean().item()
    )


def test_feature_level_fid_agrees_with_torch_fidelity(judge):
    """The features the other metrics use are the ones torch-fidelity's FID was computed on."""
    images = noise_images((1, 8, 8), 100, seed=1)
    kwargs = judge.kwargs(images, seed=0)
    gen, _, real_stats = features(kwargs)
    fid = fid_statistics_to_metric(real_stats, fid_features_to_statistics(gen), False)
    assert next(iter(fid.values())) == pytest.approx(judge.fid(images, seed=0), rel=1e-5)


def test_bootstrap_statistics_equal_torch_fidelity_on_the_resample():
    x = torch.randn(50, 6)
    idx = np.random.default_rng(0).integers(0, 50, 50)
    expected = fid_features_to_statistics(x[idx])
    got = resampled_statistics(x, np.bincount(idx, minlength=50), expected)
    np.testing.assert_allclose(got["mu"], expected["mu"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["sigma"], expected["sigma"], rtol=1e-5, atol=1e-6)


def test_two_sample_test_is_chance_on_one_distribution_and_sure_on_two():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 8, generator=gen), torch.randn(300, 8, generator=gen)
    same, p_real = c2st(a, b, seed=0, max_iter=100)
    assert 0.4 < same["c2st_accuracy"] < 0.6 and 0.3 < same["c2st_fooled"] < 0.7
    assert p_real.shape == (300,)
    apart, _ = c2st(a, b + 3.0, seed=0, max_iter=100)
    assert apart["c2st_accuracy"] > 0.95 and apart["c2st_fooled"] < 0.05


def test_density_and_coverage_follow_naeem_et_al():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(200, 4, generator=gen)
    assert density_coverage(real, real.clone(), 5)["coverage"] == 1.0
    collapsed = real[:1].repeat(200, 1)  # every sample on one real point
    m = density_coverage(real, collapsed, 5)
    assert m["coverage"] <= 6 / 200 and m["density"] > 1.0  # crowding: density above 1


def test_class_metrics_and_proportional_labels():
    real = np.array([0.5, 0.3, 0.2])
    labels = proportional_labels(real, 10, seed=0)
    assert torch.bincount(labels, minlength=3).tolist() == [5, 3, 2]
    m = class_metrics(torch.tensor([0] * 9 + [1]), real, min_fraction=0.2)
    assert m["classes_covered"] == 2 and m["num_classes"] == 3  # 10 % >= 0.2 x 30 %
    assert m["class_hist_distance"] == pytest.approx(0.5 * (0.4 + 0.2 + 0.2))
    few = class_metrics(torch.tensor([0] * 99 + [1]), real, min_fraction=0.2)
    assert few["classes_covered"] == 1  # 1 % < 0.2 x 30 %: a stray sample covers nothing
    assert class_histogram(torch.tensor([2, 2]), 3).tolist() == [0.0, 0.0, 1.0]


def test_a_metric_missing_from_metric_keys_is_an_error_not_dropped():
    from genforge.evaluation.scoring import in_file_order

    full = {k: 0.0 for k in reversed(METRIC_KEYS)}
    assert list(in_file_order(full)) == list(METRIC_KEYS)
    with pytest.raises(RuntimeError, match=r"computed \['sharpness'\] not in METRIC_KEYS"):
        in_file_order({**full, "sharpness": 1.0})
    del full["kid"]
    with pytest.raises(RuntimeError, match=r"missing \['kid'\]"):
        in_file_order(full)
    assert len(set(METRIC_KEYS)) == len(METRIC_KEYS)
