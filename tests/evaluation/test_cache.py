"""Reference statistics are computed once per data version, extractor and settings."""

from __future__ import annotations

import time

import pytest

from genforge.evaluation.cache import cache_name
from genforge.evaluation.extractor import DomainExtractor, Extractor
from genforge.evaluation.featurizer import FeaturizerError
from genforge.evaluation.reference import reference_for
from genforge.evaluation.scoring import load_judge
from tests.evaluation.conftest import build_tree, digits_params


def snapshot(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_second_evaluation_reads_the_cache_instead_of_featurizing_the_data(digits, tmp_path):
    params, root = digits
    judge = load_judge(
        params.evaluate, root / "data/prepared", root / "models/featurizer", tmp_path
    )
    n_train = len(judge.train[0])
    seen = DomainExtractor.images_seen
    start = time.perf_counter()
    first, hit = reference_for(judge, 200, seed=0)
    cold = time.perf_counter() - start
    assert not hit
    assert DomainExtractor.images_seen - seen >= n_train  # the train split was featurized
    files = snapshot(tmp_path)
    assert any(judge.real_name in name for name in files)  # torch-fidelity's feature cache
    assert any(name.startswith("genforge-reference-") for name in files)

    # a fresh process state: a new judge on the same data and settings
    again = load_judge(
        params.evaluate, root / "data/prepared", root / "models/featurizer", tmp_path
    )
    seen = DomainExtractor.images_seen
    start = time.perf_counter()
    second, hit = reference_for(again, 200, seed=0)
    warm = time.perf_counter() - start
    assert hit and second == first
    assert DomainExtractor.images_seen == seen  # nothing featurized at all
    assert snapshot(tmp_path) == files  # nothing rewritten
    print(f"reference points: cold {cold:.2f} s, cached {warm:.4f} s")

    # scoring a candidate featurizes only the candidate (twice: metrics, then features)
    images = judge.test[0][:100]
    seen = DomainExtractor.images_seen
    again.score(images, None, seed=0)
    assert DomainExtractor.images_seen - seen == 2 * len(images) < n_train


def test_other_settings_are_another_entry(digits, tmp_path):
    params, root = digits
    judge = load_judge(
        params.evaluate, root / "data/prepared", root / "models/featurizer", tmp_path
    )
    reference_for(judge, 200, seed=0)
    _, hit = reference_for(judge, 150, seed=0)  # another sample count
    assert not hit
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("genforge-reference-")]) == 2


def test_a_changed_dataset_invalidates_the_cache(digits, tmp_path):
    params, root = digits
    cache = tmp_path / "cache"
    judge = load_judge(params.evaluate, root / "data/prepared", root / "models/featurizer", cache)
    old, _ = reference_for(judge, 200, seed=0)

    # new data version: fewer images per class
    changed = digits_params(data={"max_per_class": 120})
    other = build_tree(tmp_path / "v2", changed)
    with pytest.raises(FeaturizerError, match="run `genforge featurize` again"):
        load_judge(params.evaluate, other / "data/prepared", root / "models/featurizer", cache)
    judge2 = load_judge(
        params.evaluate, other / "data/prepared", other / "models/featurizer", cache
    )
    assert judge2.data_hash != judge.data_hash and judge2.real_name != judge.real_name
    seen = DomainExtractor.images_seen
    new, hit = reference_for(judge2, 200, seed=0)
    assert not hit and new != old
    assert DomainExtractor.images_seen - seen >= len(judge2.train[0])  # recomputed


def test_cache_key_covers_data_weights_extractor_and_settings():
    a = Extractor("genforge-domain", "w.pt", "0" * 64, rgb=False)
    base = cache_name("train", "d" * 64, a, image_shape=[1, 8, 8], n=100)
    assert "/" not in base and base.startswith("genforge-train-")
    assert base == cache_name("train", "d" * 64, a, image_shape=[1, 8, 8], n=100)
    variants = [
        cache_name("train", "e" * 64, a, image_shape=[1, 8, 8], n=100),
        cache_name(
            "train",
            "d" * 64,
            Extractor(a.name, a.weights, "1" * 64, False),
            image_shape=[1, 8, 8],
            n=100,
        ),
        cache_name(
            "train",
            "d" * 64,
            Extractor("inception-v3-compat", "w.pt", a.sha256, True),
            image_shape=[1, 8, 8],
            n=100,
        ),
        cache_name("train", "d" * 64, a, image_shape=[1, 16, 16], n=100),
        cache_name("train", "d" * 64, a, image_shape=[1, 8, 8], n=101),
    ]
    assert len({base, *variants}) == 6


def test_the_cache_key_holds_the_metric_code(tmp_path, monkeypatch):
    """Editing a metric module, METRIC_KEYS or the reference kinds gives new cache names."""
    import shutil

    from genforge.evaluation import cache, reference, scoring

    a = Extractor("genforge-domain", "w.pt", "0" * 64, rgb=False)
    copy = tmp_path / "evaluation"
    copy.mkdir()
    for name in cache.CODE:
        shutil.copyfile(cache.EVALUATION_DIR / name, copy / name)
    base = cache.code_digest()
    assert cache.code_digest(copy) == base  # by content, not by path
    seen = {base}
    for name in cache.CODE:  # a one-line edit of any of them
        with open(copy / name, "a") as f:
            f.write("# edited\n")
        cache.code_digest.cache_clear()  # once per process in real use
        seen.add(cache.code_digest(copy))
    assert len(seen) == 1 + len(cache.CODE)

    name = cache_name("reference", "d" * 64, a, n=100)
    for module, attr, value in [
        (scoring, "METRIC_KEYS", (*scoring.METRIC_KEYS, "new_metric")),
        (reference, "KINDS", (*reference.KINDS, "new_kind")),
    ]:
        with monkeypatch.context() as m:
            m.setattr(module, attr, value)
            cache.code_digest.cache_clear()
            assert cache_name("reference", "d" * 64, a, n=100) != name, attr
        cache.code_digest.cache_clear()
    assert cache_name("reference", "d" * 64, a, n=100) == name


def test_cached_reference_from_other_metric_code_is_recomputed(digits, tmp_path, monkeypatch):
    from genforge.evaluation import cache

    params, root = digits
    judge = load_judge(
        params.evaluate, root / "data/prepared", root / "models/featurizer", tmp_path
    )
    reference_for(judge, 200, seed=0)
    assert reference_for(judge, 200, seed=0)[1]
    monkeypatch.setattr(cache, "code_digest", lambda: "f" * 64)  # as if scoring.py was edited
    _, hit = reference_for(judge, 200, seed=0)
    assert not hit
