"""The two-domain source: CycleGAN's folder layout and the embedded digits <-> typeset pair."""

from __future__ import annotations

import numpy as np
import pytest

from genforge.data.errors import DataError
from genforge.translation.domains import (
    UNLABELLED,
    DomainsConfig,
    embedded_domains,
    load_domain_folder,
    load_domains,
)
from tests.translation.conftest import make_layout, write_png


def test_labelled_layout_loads_classes_and_resizes(tmp_path):
    root = make_layout(tmp_path / "pair", ["cat", "dog"], per=3, side=12)
    d = load_domains(DomainsConfig(source="folder", path=str(root), image_size=8))
    for s in (d.train_a, d.test_a, d.train_b, d.test_b):
        assert s.x.shape == (6, 8, 8, 1) and s.class_names == ["cat", "dog"]
        assert s.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert d.labelled() and d.image_shape == (1, 8, 8)


def test_unlabelled_layout_is_one_class_in_rgb(tmp_path):
    root = make_layout(tmp_path / "pair", None, per=4, side=10)
    d = load_domain_folder(root, channels=3, image_size=None)  # native size kept
    assert d.train_b.x.shape == (4, 10, 10, 3)
    assert d.train_a.class_names == [UNLABELLED] and not d.labelled()


def test_missing_split_folder_is_named(tmp_path):
    root = make_layout(tmp_path / "pair", None)
    for f in (root / "testB").iterdir():
        f.unlink()
    (root / "testB").rmdir()
    with pytest.raises(DataError, match=r"pair/testB: missing"):
        load_domain_folder(root, 1, 8)


def test_unreadable_file_is_named(tmp_path):
    root = make_layout(tmp_path / "pair", ["a", "b"])
    (root / "trainB" / "b" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"trainB/b/broken\.png: cannot decode"):
        load_domain_folder(root, 1, 8)


def test_mismatched_native_sizes_name_the_file(tmp_path):
    root = make_layout(tmp_path / "pair", None, side=12)
    write_png(root / "testA" / "big.png", 16, 3)
    with pytest.raises(DataError, match=r"testA/big\.png: 16x16, but the first image is 12x12"):
        load_domain_folder(root, 1, None)
    # with an image_size they are resized instead, as the folder source does
    assert load_domain_folder(root, 1, 8).test_a.x.shape == (4, 8, 8, 1)


def test_domain_splits_must_name_the_same_classes(tmp_path):
    root = make_layout(tmp_path / "pair", ["a", "b"])
    write_png(root / "testA" / "c" / "0.png", 12, 1)
    with pytest.raises(DataError, match=r"testA: classes \['a', 'b', 'c'\] differ"):
        load_domain_folder(root, 1, 8)


def test_image_beside_class_folders_is_refused(tmp_path):
    root = make_layout(tmp_path / "pair", ["a", "b"])
    write_png(root / "trainA" / "stray.png", 12, 1)
    with pytest.raises(DataError, match=r"trainA/stray\.png: image outside a class folder"):
        load_domain_folder(root, 1, 8)


def test_config_requires_a_path_for_folders_only():
    with pytest.raises(ValueError, match="path is required"):
        DomainsConfig(source="folder")
    with pytest.raises(ValueError, match="must be empty"):
        DomainsConfig(path="x")


def test_embedded_pair_is_handwritten_vs_typeset_with_every_class_in_both_splits():
    d = embedded_domains(DomainsConfig(typeset_per_class=10))
    assert d.image_shape == (1, 16, 16)  # data.image_size / data.channels defaults
    assert len(d.train_a.y) + len(d.test_a.y) == 1797  # the whole embedded digits set
    assert len(d.train_b.y) + len(d.test_b.y) == 100
    for s in (d.train_a, d.test_a, d.train_b, d.test_b):
        assert set(s.y.tolist()) == set(range(10))
    assert d.labelled()
    again = embedded_domains(DomainsConfig(typeset_per_class=10))
    assert np.array_equal(d.train_b.x, again.train_b.x)
    assert d.data_hash("B") == again.data_hash("B") != d.data_hash("A")
