"""The `folder` source loader and the one resize / channel-conversion path for all sources.

Every image, whatever its source, goes through `fit_image`: convert to the
configured mode, centre-crop to a square, resize to ``image_size``. Keeping one
path means a folder of PNGs and the same pixels in an npz prepare to the same bytes.
"""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genforge.data.errors import DataError, require_inside, require_path
from genforge.data.imageset import ImageSet, make_imageset

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
# The decoders PIL may use, whatever the file's content claims: PIL opens ~40 formats by
# content, EPS among them, whose decoder runs Ghostscript (a PostScript interpreter).
IMAGE_FORMATS = ("BMP", "GIF", "JPEG", "PNG", "WEBP")
# Larger images are refused before decoding: a 50 KiB PNG can declare 400 Mpx (PIL only
# refuses above 179 Mpx and decodes up to that). 50 Mpx admits a 48 Mpx phone photo.
MAX_PIXELS = 50_000_000
# 16-bit and float modes: converting them to "L" clips instead of scaling, so refuse.
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def is_image_file(path: Path) -> bool:
    """Whether `path` is a regular file with an image suffix (case-insensitive)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _mode(channels: int) -> str:
    return "L" if channels == 1 else "RGB"


def convert_mode(img: Image.Image, channels: int, where: str) -> Image.Image:
    """Convert any 8-bit PIL mode (L, LA, P, RGB, RGBA, CMYK, ...) to "L" or "RGB".

    Transparent pixels are composited over black (the background `shapes` uses)
    rather than keeping whatever colour hides under alpha 0. Colour to grey uses
    PIL's ITU-R 601-2 luma: L = 0.299 R + 0.587 G + 0.114 B.
    """
    if img.mode in _WIDE_MODES:
        raise DataError(
            f"{where}: {img.mode} (16-bit or float) images are not supported; "
            f"save it as 8-bit grey or RGB"
        )
    has_alpha = "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return img.convert(_mode(channels))


def fit_image(img: Image.Image, size: int) -> np.ndarray:
    """Centre-crop `img` to a square and resize it to `size` x `size`; return (H, W, C) uint8.

    Cropping (not stretching) keeps shapes' aspect ratio, the usual practice for
    generative-model datasets. Resampling is bilinear; Pillow widens the filter by
    the scale factor when downscaling, so that is antialiased (no moire), and for
    upscaling it is plain bilinear interpolation.
    """
    w, h = img.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr  # (H, W) -> (H, W, 1)


def fit_array(x: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Apply `fit_image` and the channel conversion to every image of a uint8 NHWC array.

    Returns `x` itself when it already has the requested shape, so a second pass
    (e.g. folder images already fitted while loading) costs nothing.
    """
    n, h, w, c = x.shape
    if (h, w, c) == (size, size, channels):
        return x
    out = np.empty((n, size, size, channels), dtype=np.uint8)
    for i in range(n):
        img = Image.fromarray(x[i, :, :, 0] if c == 1 else x[i], "L" if c == 1 else "RGB")
        if c != channels:
            img = img.convert(_mode(channels))
        out[i] = fit_image(img, size)
    return out


def _class_files(cls_dir: Path, root: Path) -> list[Path]:
    files = sorted(require_inside(p, root) for p in cls_dir.iterdir() if is_image_file(p))
    if not files:
        allowed = "/".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
        raise DataError(f"{cls_dir}: class folder has no images ({allowed}, any case)")
    return files


def list_folder(root: Path) -> dict[str, list[Path]]:
    """Map each class (sorted sub-folder name) to its sorted image files.

    Hidden entries (".git", ".DS_Store") are skipped and other non-image files are
    ignored; an image directly under `root` is an error because it has no class.
    """
    require_path(root, "directory", "data.path must be a folder with one sub-folder per class")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    stray = [p for p in entries if is_image_file(p)]
    if stray:
        raise DataError(
            f"{stray[0]}: image outside a class folder; put every image in {root}/<class name>/"
        )
    class_dirs = [require_inside(p, root) for p in entries if p.is_dir()]
    if not class_dirs:
        raise DataError(f"{root}: folder is empty; expected one sub-folder of images per class")
    return {d.name: _class_files(d, root) for d in class_dirs}


def decode_image(
    path: Path | BinaryIO,
    channels: int,
    size: int,
    sizes: Counter | None = None,
    where: str | None = None,
) -> np.ndarray:
    """Decode one image file into (size, size, channels) uint8; DataError if it is unreadable.

    `path` may also be an open binary file (e.g. `io.BytesIO` of an uploaded PNG); `where`
    then names it in the messages (default: the path). `sizes`, when given, counts the
    original (width, height) of each decoded image.
    """
    where = str(path) if where is None else where
    try:
        with warnings.catch_warnings():  # PIL warns above 89 Mpx; MAX_PIXELS refuses those
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path, formats=IMAGE_FORMATS)
        with img:
            w, h = img.size
            if sizes is not None:
                sizes[(w, h)] += 1
            if w * h > MAX_PIXELS:
                raise DataError(
                    f"{where}: {w}x{h} = {w * h} pixels, over the {MAX_PIXELS} allowed "
                    "(a decompression bomb, or a photo to downscale first)"
                )
            img.load()  # decode now, so a truncated file fails here and not later
            img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF
            img = convert_mode(img, channels, where)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(
            f"{where}: cannot decode image: not a readable {', '.join(IMAGE_FORMATS[:-1])} "
            f"or {IMAGE_FORMATS[-1]} file (other formats are refused, whatever the name says)"
        ) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{where}: cannot decode image ({exc})") from None
    return fit_image(img, size)


def load_folder(root: Path, channels: int, image_size: int) -> ImageSet:
    """Load a folder with one sub-folder of images per class.

    Class names are the sorted sub-folder names. Files directly in a class folder
    ending in png/jpg/jpeg/bmp/gif/webp (any case) are decoded with PIL (first frame
    of an animation, EXIF rotation applied); deeper folders are not read. Images
    of any 8-bit mode (L, LA, P, RGB, RGBA, ...) are converted to `channels`
    (1 -> "L", 3 -> "RGB", alpha over black), and images of any size are
    centre-cropped and resized to `image_size` here, since they cannot be stacked
    otherwise.
    """
    root = Path(root)
    classes = list_folder(root)
    images, labels, sizes = [], [], Counter()
    for label, files in enumerate(classes.values()):
        images.extend(decode_image(f, channels, image_size, sizes) for f in files)
        labels.extend([label] * len(files))
    x = np.stack(images)  # (N, image_size, image_size, channels)
    for line in folder_notes(root, sizes, len(classes), image_size):
        print(f"note: {line}", file=sys.stderr)
    return make_imageset(x, np.asarray(labels, dtype=np.int64), list(classes), str(root))


def folder_notes(root: Path, sizes: Counter, num_classes: int, image_size: int) -> list[str]:
    """What a user should know about how their folder will be judged (printed, not fatal)."""
    notes = []
    if len(sizes) > 1 or any(w != h for w, h in sizes):
        common = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes.most_common(3))
        notes.append(
            f"{root}: images of {len(sizes)} size(s), e.g. {common}: every image is centre-"
            f"cropped to a square and resized to {image_size}x{image_size}, so the models "
            "learn, and the metrics compare, those crops"
        )
    if num_classes == 1:
        notes.append(
            f"{root}: one class folder: the featurizer learns label-free (contrastive) "
            "features, and classes covered / label accuracy are trivially 1 of 1"
        )
    return notes
