"""The `folder` source: class sub-folders of images, any mode and size, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genforge.data import DataError
from genforge.data.images import fit_array, load_folder


def test_loads_classes_from_sorted_subfolders(make_folder):
    root = make_folder({"b_dog": 2, "a_cat": 3})
    x, y, names = load_folder(root, channels=3, image_size=6)
    assert names == ["a_cat", "b_dog"]
    assert x.shape == (5, 6, 6, 3) and x.dtype == np.uint8
    assert y.dtype == np.int64 and y.tolist() == [0, 0, 0, 1, 1]
    # make_folder wrote b_dog first (value 40), a_cat second (value 80)
    assert (x[y == 0][..., 0] == 80).all() and (x[y == 1][..., 0] == 40).all()


def test_suffixes_are_case_insensitive_and_other_files_ignored(tmp_path, solid_image):
    cls = tmp_path / "imgs" / "cat"
    cls.mkdir(parents=True)
    for name, fmt in [("a.PNG", "PNG"), ("b.JpEg", "JPEG"), ("c.bmp", "BMP"), ("d.GIF", "GIF")]:
        solid_image("RGB", (4, 4), 100).save(cls / name, format=fmt)
    (cls / "notes.txt").write_text("not an image")
    (tmp_path / "imgs" / ".DS_Store").write_text("junk")
    x, y, names = load_folder(tmp_path / "imgs", channels=1, image_size=4)
    assert names == ["cat"] and len(x) == 4


@pytest.mark.parametrize("channels", [1, 3])
def test_mixed_modes_are_converted_to_configured_channels(tmp_path, channels, solid_image):
    cls = tmp_path / "imgs" / "mixed"
    cls.mkdir(parents=True)
    for mode in ("L", "LA", "P", "RGB", "RGBA"):
        solid_image(mode, (5, 5), 120).save(cls / f"{mode}.png")
    x, _, _ = load_folder(tmp_path / "imgs", channels=channels, image_size=5)
    assert x.shape == (5, 5, 5, channels)
    assert (x > 0).any(axis=(1, 2, 3)).all()  # every image kept its content
    grey, rgb = x[0], x[3]  # files load sorted: L, LA, P, RGB, RGBA
    assert (grey == 120).all()  # grey stays grey, whatever the channel count
    expected_rgb = [71] if channels == 1 else [120, 60, 0]  # luma 0.299 R + 0.587 G + 0.114 B
    assert (rgb == np.array(expected_rgb, dtype=np.uint8)).all()


def test_transparent_pixels_become_black(tmp_path):
    cls = tmp_path / "imgs" / "a"
    cls.mkdir(parents=True)
    Image.new("RGBA", (4, 4), (255, 255, 255, 0)).save(cls / "clear.png")
    x, _, _ = load_folder(tmp_path / "imgs", channels=3, image_size=4)
    assert (x == 0).all()


def test_images_of_different_sizes_are_cropped_and_resized(tmp_path, solid_image):
    cls = tmp_path / "imgs" / "a"
    cls.mkdir(parents=True)
    wide = np.zeros((10, 30), dtype=np.uint8)
    wide[:, 10:20] = 255  # a white centre square: survives the centre crop, sides do not
    Image.fromarray(wide).save(cls / "wide.png")
    solid_image("L", (3, 3), 200).save(cls / "small.png")
    x, _, _ = load_folder(tmp_path / "imgs", channels=1, image_size=8)
    assert x.shape == (2, 8, 8, 1)
    small, wide = x  # files load in sorted name order
    assert (small == 200).all()  # an upscaled solid image stays solid
    assert (wide == 255).all()  # only the wide image's white centre square remains


def test_fit_array_converts_channels_and_resizes():
    grey = np.full((2, 4, 4, 1), 90, dtype=np.uint8)
    rgb = fit_array(grey, size=8, channels=3)
    assert rgb.shape == (2, 8, 8, 3) and (rgb == 90).all()
    red = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    red[..., 0] = 255
    assert (fit_array(red, size=4, channels=1) == 76).all()  # ITU-R 601-2 luma of pure red
    assert fit_array(grey, size=4, channels=1) is grey  # already the right shape: no copy


def test_corrupt_image_names_the_file(make_folder):
    root = make_folder({"cat": 2})
    bad = root / "cat" / "3.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(DataError, match=r"cat/3\.png: cannot decode image"):
        load_folder(root, channels=1, image_size=6)


def test_truncated_image_names_the_file(make_folder):
    root = make_folder({"cat": 1})
    png = root / "cat" / "0.png"
    png.write_bytes(png.read_bytes()[:40])
    with pytest.raises(DataError, match=r"cat/0\.png: cannot decode image"):
        load_folder(root, channels=1, image_size=6)


def test_empty_folder_is_reported(tmp_path):
    (tmp_path / "imgs").mkdir()
    with pytest.raises(DataError, match=r"imgs: folder is empty; expected one sub-folder"):
        load_folder(tmp_path / "imgs", channels=1, image_size=6)


def test_class_folder_without_images_is_named(make_folder):
    root = make_folder({"cat": 2})
    (root / "dog").mkdir()
    (root / "dog" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"images/dog: class folder has no images"):
        load_folder(root, channels=1, image_size=6)


def test_image_outside_class_folder_is_named(make_folder, solid_image):
    root = make_folder({"cat": 1})
    solid_image("L", (4, 4), 1).save(root / "loose.png")
    with pytest.raises(DataError, match=r"loose\.png: image outside a class folder"):
        load_folder(root, channels=1, image_size=6)


def test_sixteen_bit_images_are_refused_by_name(tmp_path):
    cls = tmp_path / "imgs" / "a"
    cls.mkdir(parents=True)
    Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)).save(cls / "deep.png")
    with pytest.raises(DataError, match=r"deep\.png: I;16\w* \(16-bit or float\) images"):
        load_folder(tmp_path / "imgs", channels=1, image_size=4)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: no such directory"):
        load_folder(tmp_path / "nowhere", channels=1, image_size=4)


def test_exif_orientation_is_applied(tmp_path):
    cls = tmp_path / "imgs" / "a"
    cls.mkdir(parents=True)
    top_row = np.zeros((4, 4), dtype=np.uint8)
    top_row[0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: display rotated 90 degrees clockwise
    Image.fromarray(top_row).save(cls / "phone.png", exif=exif)
    x, _, _ = load_folder(tmp_path / "imgs", channels=1, image_size=4)
    assert (x[0, :, -1, 0] == 255).all() and (x[0, :, 0, 0] == 0).all()  # top row -> right


def test_mixed_sizes_and_one_class_are_noted_not_refused(tmp_path, capsys):
    """A one-class folder of mixed sizes loads, with a note saying what that means."""
    from PIL import Image

    (tmp_path / "cats").mkdir()
    for i, size in enumerate([(32, 32), (64, 48), (40, 40)]):
        Image.new("RGB", size, (i * 40, 0, 0)).save(tmp_path / "cats" / f"{i}.png")
    data = load_folder(tmp_path, channels=3, image_size=16)
    assert data.x.shape == (3, 16, 16, 3)
    err = capsys.readouterr().err
    assert "images of 3 size(s), e.g. 32x32 (1)" in err and "resized to 16x16" in err
    assert "one class folder: the featurizer learns label-free" in err
