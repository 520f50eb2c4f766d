"""The translation table: every key, both directions, baselines scored by the same judges."""

from __future__ import annotations

import json

import pytest
import torch

from genforge.evaluation.featurizer import load_featurizer
from genforge.translation.evaluate import evaluate_translation, fit_domain_featurizer
from genforge.translation.grid import ROWS, save_translation_grid, translation_rows
from genforge.translation.train import load_cyclegan, nchw, train_cyclegan

KEYS = {
    "fid", "kid", "kid_std", "identity_fid", "identity_kid", "floor_fid", "floor_kid",
    "fid_vs_identity", "cycle_error", "content_preservation", "identity_content_preservation",
    "target_classifier_accuracy", "n_source", "n_reference",
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_domains):
    from genforge.translation.train import CycleGanConfig
    from tests.translation.conftest import TINY

    out = tmp_path_factory.mktemp("cyclegan")
    train_cyclegan(CycleGanConfig(**{**TINY, "steps": 5}), tiny_domains, out)
    return load_cyclegan(out / "checkpoint.pt")[0]


def test_table_has_every_key_and_identity_preservation_is_the_classifiers(
    tmp_path, trained, tiny_domains, tiny_featurizer
):
    table = evaluate_translation(
        trained, tiny_domains, tiny_featurizer, tmp_path / "feat", tmp_path / "cache"
    )
    json.dumps(table)  # JSON-ready
    assert table["labelled"] is True
    for direction, (src, dst) in {"a2b": ("A", "B"), "b2a": ("B", "A")}.items():
        row = table[direction]
        assert set(row) == KEYS, direction
        assert row["n_source"] == len(tiny_domains.split(src, "test").y)
        assert row["fid_vs_identity"] == pytest.approx(row["fid"] / row["identity_fid"])
        # the untranslated test images, classified by the target domain's saved featurizer
        net, state = load_featurizer(tmp_path / "feat" / dst / "featurizer.pt")
        assert state["class_names"] == [str(d) for d in range(10)]
        source = nchw(tiny_domains, src, "test")
        labels = torch.from_numpy(tiny_domains.split(src, "test").y)
        expected = (net.predict(source) == labels).float().mean().item()
        assert row["identity_content_preservation"] == pytest.approx(expected, abs=1e-5)
        translated = trained.translate(source, direction)
        expected = (net.predict(translated) == labels).float().mean().item()
        assert row["content_preservation"] == pytest.approx(expected, abs=1e-5)
        assert 0 <= row["cycle_error"] <= 1 and row["floor_fid"] < row["identity_fid"]


def test_featurizers_are_reused_for_the_same_data_and_settings(
    tmp_path, tiny_domains, tiny_featurizer
):
    _, first = fit_domain_featurizer(tiny_featurizer, tiny_domains, "B", tmp_path)
    mtime = (tmp_path / "B" / "featurizer.pt").stat().st_mtime_ns
    _, again = fit_domain_featurizer(tiny_featurizer, tiny_domains, "B", tmp_path)
    assert again.sha256 == first.sha256
    assert (tmp_path / "B" / "featurizer.pt").stat().st_mtime_ns == mtime
    other = tiny_featurizer.model_copy(update={"steps": 61})
    _, retrained = fit_domain_featurizer(other, tiny_domains, "B", tmp_path)
    assert retrained.sha256 != first.sha256  # other settings: trained again


def test_grid_rows_are_a_translation_and_its_cycle(tmp_path, trained, tiny_domains):
    rows = translation_rows(trained, tiny_domains, n=5)
    assert rows.shape == (len(ROWS) * 5, 1, 8, 8) and rows.dtype == torch.uint8
    a, ga = rows[:5], rows[5:10]
    assert torch.equal(ga, trained.translate(a, "a2b"))
    assert torch.equal(rows[10:15], trained.translate(ga, "b2a"))
    path = save_translation_grid(trained, tiny_domains, tmp_path / "grid.png", n=5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unlabelled_folders_get_fid_but_no_content_preservation(tmp_path, tiny_featurizer):
    from genforge.translation.domains import load_domain_folder
    from genforge.translation.train import CycleGanConfig
    from tests.translation.conftest import TINY, make_layout

    domains = load_domain_folder(make_layout(tmp_path / "pair", None, per=8), 1, 8)
    train_cyclegan(CycleGanConfig(**{**TINY, "steps": 2}), domains, tmp_path / "run")
    model, _ = load_cyclegan(tmp_path / "run" / "checkpoint.pt")
    table = evaluate_translation(model, domains, tiny_featurizer, tmp_path / "f", tmp_path / "c")
    assert table["labelled"] is False
    for direction in ("a2b", "b2a"):
        row = table[direction]
        assert set(row) == KEYS and row["fid"] >= 0
        assert row["content_preservation"] is None and row["identity_content_preservation"] is None
    _, state = load_featurizer(tmp_path / "f" / "A" / "featurizer.pt")
    assert state["objective"] == "contrastive"  # one class: label-free features
