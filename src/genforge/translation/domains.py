"""The two-domain source of a translation model: train and test images of domains A and B.

Two sources (`DomainsConfig.source`):

- ``digits-typeset`` (default, embedded): A = scikit-learn's handwritten digits, the
  set genforge uses everywhere (`data.sources.load_digits`), B = typeset digits
  (typeset.py); each is resized by the data layer's one resize path and split into
  train/test with `prepare.stratified_split`, so every digit is in both splits.
- ``folder``: CycleGAN's public layout, ``<path>/{trainA,trainB,testA,testB}/``, each
  holding either image files (unlabelled: one class) or one sub-folder per class
  (labelled; the train and test splits of a domain must name the same classes).
  Images are decoded by `data.images` (same formats, limits and errors as the
  `folder` source) and resized to `image_size`; with ``image_size: null`` they keep
  their size, which must be one square size across all four folders.

Bad input raises `DataError` naming the folder or file; nothing is written here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genforge.data.errors import DataError, require_inside, require_path
from genforge.data.images import decode_image, fit_array, is_image_file, list_folder
from genforge.data.imageset import ImageSet, make_imageset
from genforge.data.prepare import content_hash, stratified_split
from genforge.data.sources import load_digits
from genforge.translation.sections import DomainsConfig
from genforge.translation.typeset import make_typeset

SPLIT_DIRS = ("trainA", "trainB", "testA", "testB")
UNLABELLED = "all"  # the one class name of a flat (unlabelled) folder


class Domains(NamedTuple):
    """Train and test images of both domains; `where` names the source in messages."""

    train_a: ImageSet
    test_a: ImageSet
    train_b: ImageSet
    test_b: ImageSet
    where: str

    def split(self, domain: str, split: str) -> ImageSet:
        return getattr(self, f"{split}_{domain.lower()}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image, both domains."""
        _, h, w, c = self.train_a.x.shape
        return c, h, w

    def data_hash(self, domain: str) -> str:
        """sha256 of one domain's train and test arrays (prepare.content_hash)."""
        sets = {s: self.split(domain, s) for s in ("train", "test")}
        return content_hash({s: {"x": v.x, "y": v.y} for s, v in sets.items()})

    def labelled(self) -> bool:
        """Both domains carry the same two or more classes: content preservation is defined."""
        names = self.train_a.class_names
        return len(names) >= 2 and names == self.train_b.class_names


def load_domains(cfg: DomainsConfig) -> Domains:
    """Load the two domains `cfg` names (see the module docstring)."""
    if cfg.source == "folder":
        assert cfg.path is not None  # DomainsConfig requires it
        return load_domain_folder(Path(cfg.path), cfg.channels, cfg.image_size)
    return embedded_domains(cfg)


def embedded_domains(cfg: DomainsConfig) -> Domains:
    """A = handwritten digits, B = typeset digits, at `cfg.image_size` and `cfg.channels`."""
    assert cfg.image_size is not None
    digits = load_digits()
    a = make_imageset(
        fit_array(digits.x, cfg.image_size, cfg.channels),
        digits.y,
        digits.class_names,
        "sklearn digits",
    )
    b = make_typeset(
        cfg.typeset_per_class, cfg.typeset_render_size or cfg.image_size, cfg.seed, height=cfg.typeset_height,
        size_jitter=cfg.typeset_size_jitter,
        shift_jitter=cfg.typeset_shift_jitter, max_rotation=cfg.typeset_max_rotation,
        channels=cfg.channels,
    )  # fmt: skip
    b = b._replace(x=fit_array(b.x, cfg.image_size, cfg.channels))  # itself when rendered there
    parts = []
    for name, s in (("handwritten digits", a), ("typeset digits", b)):
        train, test = stratified_split(s.y, s.class_names, cfg.test_fraction, cfg.seed, name)
        parts += [ImageSet(s.x[i], s.y[i], s.class_names) for i in (train, test)]
    return Domains(*parts, where="digits-typeset (A: handwritten, B: typeset)")


def load_domain_folder(root: Path, channels: int, image_size: int | None) -> Domains:
    """Read CycleGAN's layout under `root`: trainA/ trainB/ testA/ testB/.

    A split folder holds image files (one unlabelled class, named UNLABELLED) or one
    sub-folder of images per class, not both. With `image_size` None every image keeps
    its size, which must be the same square for all four folders.
    """
    root = Path(root)
    require_path(root, "directory", f"translation data must hold {', '.join(SPLIT_DIRS)}")
    dirs = {}
    for name in SPLIT_DIRS:
        d = root / name
        if not d.is_dir():
            raise DataError(
                f"{d}: missing; a two-domain folder holds {'/, '.join(SPLIT_DIRS)}/ "
                f"(image files, or one sub-folder per class)"
            )
        dirs[name] = require_inside(d, root)
    sizes: Counter = Counter()
    side = image_size
    sets = {}
    for name, d in dirs.items():
        classes = _split_classes(d)
        if side is None:  # native size: the first image decides, every other must match
            side = _native_side(next(iter(classes.values()))[0], channels)
        sets[name] = _decode_split(
            d, classes, channels, side, sizes if image_size is None else None
        )
    for domain in "AB":
        train, test = sets[f"train{domain}"], sets[f"test{domain}"]
        if train.class_names != test.class_names:
            raise DataError(
                f"{dirs[f'test{domain}']}: classes {test.class_names} differ from "
                f"{dirs[f'train{domain}']}'s {train.class_names}; a domain's train and test "
                "folders must have the same class sub-folders (or both none)"
            )
    return Domains(sets["trainA"], sets["testA"], sets["trainB"], sets["testB"], where=str(root))


def _split_classes(d: Path) -> dict[str, list[Path]]:
    """Class name -> files: the class sub-folders (data.images.list_folder), or one class."""
    entries = [p for p in sorted(d.iterdir()) if not p.name.startswith(".")]
    if any(p.is_dir() for p in entries):
        return list_folder(d)  # also refuses images beside the class folders
    files = [require_inside(p, d) for p in entries if is_image_file(p)]
    if not files:
        raise DataError(f"{d}: no images; put image files (or class sub-folders of them) here")
    return {UNLABELLED: files}


def _native_side(path: Path, channels: int) -> int:
    seen: Counter = Counter()
    decode_image(path, channels, 1, seen)  # decoded small: only its size is wanted here
    ((w, h),) = seen
    if w != h:
        raise DataError(
            f"{path}: {w}x{h} is not square; with image_size null every image keeps its size, "
            "so set translation.data.image_size to crop and resize"
        )
    return w


def _decode_split(
    d: Path, classes: dict[str, list[Path]], channels: int, side: int, sizes: Counter | None
) -> ImageSet:
    """Decode one split folder; with `sizes` (native size) a differing size is an error."""
    images, labels = [], []
    for label, files in enumerate(classes.values()):
        for f in files:
            images.append(decode_image(f, channels, side, sizes))
            labels.append(label)
            if sizes is not None and set(sizes) != {(side, side)}:
                found = next(s for s in sizes if s != (side, side))
                raise DataError(
                    f"{f}: {found[0]}x{found[1]}, but the first image is {side}x{side}; with "
                    "image_size null all images of both domains must have one size "
                    "(or set translation.data.image_size to resize them)"
                )
    return make_imageset(np.stack(images), np.asarray(labels, np.int64), list(classes), str(d))
