"""The served translation model: an `mlflow.pyfunc` wrapper around a CycleGAN checkpoint.

Input: rows of {"image": <base64 PNG>, "direction": "a2b" | "b2a"} (a DataFrame, a dict
or a list of dicts). Each image, of any size and 8-bit mode, goes through the data
layer's one decode path (`data.images.decode_image`: alpha over black, the model's
channels, centre crop, resize to its side), so an upload is seen as the training data
was. Output: one row per input row with the request's index, the direction, the
translation as a base64 PNG and its shape [C, H, W]. More than `max_n` rows, a field
that is missing or unknown, an unknown direction, or an image that is not base64 or
not a readable image is refused with an MLflow INVALID_PARAMETER_VALUE error (HTTP 400)
naming the row, before anything is translated.

Logged from code (`pyfunc_translation_code.py`), as the samplers are (pyfunc_model.py).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch

from genforge.layout import TRANSLATION
from genforge.serving.pyfunc_model import _records, pip_requirements, png_base64, served_max_n
from genforge.translation.cyclegan import DIRECTIONS

FIELDS = ("image", "direction")
ROW = "{'image': base64 PNG, 'direction': 'a2b' or 'b2a'}"
CODE_FILE = Path(__file__).with_name("pyfunc_translation_code.py")  # models-from-code


@dataclass(frozen=True)
class TranslationRequest:
    image: torch.Tensor  # uint8 (C, H, W), already the model's shape
    direction: str


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def decode_upload(value: Any, row: int, image_shape: list[int]) -> torch.Tensor:
    """One row's base64 image -> uint8 (C, H, W) of the model's shape; ValueError names the row."""
    from genforge.data.errors import DataError
    from genforge.data.images import decode_image

    if _missing(value):
        raise ValueError(f"row {row}: missing 'image' (a base64-encoded PNG); rows are {ROW}")
    if not isinstance(value, str):
        raise ValueError(
            f"row {row}: image must be a base64-encoded PNG string, got {type(value).__name__}"
        )
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(
            f"row {row}: image is not base64 ({exc}); send the PNG file's bytes base64-encoded, "
            "without a data: URL prefix"
        ) from None
    c, side, _ = image_shape
    try:
        array = decode_image(io.BytesIO(raw), c, side, where=f"row {row} (image)")
    except DataError as exc:
        raise ValueError(str(exc)) from None
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()


def parse_translation_rows(
    payload: Any, max_n: int, image_shape: list[int]
) -> list[TranslationRequest]:
    """Validate a payload into translation requests; ValueError names the culprit row."""
    rows = _records(payload, ROW)
    if not rows:
        raise ValueError(f"empty request: send at least one row {ROW}")
    if len(rows) > max_n:
        raise ValueError(
            f"{len(rows)} images sent; at most {max_n} per request "
            "(tracking.serve_max_n when the model was logged)"
        )
    for i, row in enumerate(rows):  # cheap checks first: decode nothing of a bad request
        unknown = sorted(set(row) - set(FIELDS))
        if unknown:
            raise ValueError(f"row {i}: unknown field(s) {unknown}; allowed: {list(FIELDS)}")
        direction = row.get("direction")
        if _missing(direction):
            raise ValueError(f"row {i}: missing 'direction'; allowed: {', '.join(DIRECTIONS)}")
        if direction not in DIRECTIONS:
            raise ValueError(
                f"row {i}: unknown direction {direction!r}; allowed: {', '.join(DIRECTIONS)}"
            )
    return [
        TranslationRequest(decode_upload(row.get("image"), i, image_shape), row["direction"])
        for i, row in enumerate(rows)
    ]


def translate_requests(model, requests: list[TranslationRequest]) -> list[torch.Tensor]:
    """Each request's translation, uint8 (C, H, W), in request order; one batch per direction."""
    out: list[torch.Tensor | None] = [None] * len(requests)
    for direction in DIRECTIONS:
        idx = [i for i, r in enumerate(requests) if r.direction == direction]
        if idx:
            batch = torch.stack([requests[i].image for i in idx])  # (n, C, H, W)
            for i, image in zip(idx, model.translate(batch, direction), strict=True):
                out[i] = image
    return out  # type: ignore[return-value]


def example_png(image_shape: list[int], k: int = 0) -> str:
    """A small synthetic image of the model's shape, base64 PNG: a bright bar over black,
    placed by `k` (the logged input example and the loader's smoke test)."""
    from PIL import Image

    from genforge.grids import png_bytes

    c, side, _ = image_shape
    array = np.zeros((side, side), np.uint8)
    top = (k * 3) % max(side // 2, 1)
    array[top : top + side // 2, side // 4 : side // 2 + 1] = 255
    pil = Image.fromarray(array, "L").convert("L" if c == 1 else "RGB")
    return base64.b64encode(png_bytes(pil)).decode("ascii")


class ImageTranslator(mlflow.pyfunc.PythonModel):
    """Translates uploaded images with a CycleGAN checkpoint's generators (G: a2b, F: b2a).

    Built with no arguments by `pyfunc_translation_code.py`; its state comes from the
    context: the checkpoint artifact and `model_config["max_n"]`.
    """

    kind = "translation"  # what the server asks of a loaded model (cf. ImageSampler)

    def __init__(self):
        self.max_n = 0
        self.model = None

    def load_context(self, context) -> None:
        from genforge.translation.train import load_cyclegan

        self.max_n = served_max_n(context)
        path = Path(context.artifacts["checkpoint"])
        self.model, state = load_cyclegan(path, map_location="cpu")
        if state.get("family") != TRANSLATION:
            raise ValueError(f"{path}: a {state.get('family')!r} checkpoint, not {TRANSLATION}")

    @property
    def image_shape(self) -> list[int]:
        return list(self.model.args["image_shape"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        # DataFrame: MLflow converts the validated rows to one (see ImageSampler.predict)
        from mlflow.exceptions import MlflowException

        try:
            requests = parse_translation_rows(model_input, self.max_n, self.image_shape)
        except ValueError as exc:
            raise MlflowException.invalid_parameter_value(str(exc)) from None
        translated = translate_requests(self.model, requests)
        return pd.DataFrame(
            [
                {
                    "request": i,
                    "direction": req.direction,
                    "png": png_base64(image),
                    "shape": list(image.shape),
                }
                for i, (req, image) in enumerate(zip(requests, translated, strict=True))
            ]
        )


def input_schema():
    """image and direction, typed "any" and optional: MLflow's own check would refuse a
    missing column without naming a row; predict() checks every row and names it."""
    from mlflow.types.schema import AnyType, ColSpec, Schema

    return Schema(
        [
            ColSpec(AnyType(), "image", required=False),
            ColSpec(AnyType(), "direction", required=False),
        ]
    )


def log_translator_model(checkpoint: Path, max_n: int, name: str = "model"):
    """Log a CycleGAN checkpoint as a pyfunc model of the active run; returns ModelInfo.

    As `log_sampler_model`: from code (no pickle), the checkpoint as the "checkpoint"
    artifact (read with weights_only), genforge's source in code_paths.
    """
    from mlflow.models import ModelSignature, infer_signature

    import genforge

    config = {"max_n": max_n}
    translator = ImageTranslator()
    context = mlflow.pyfunc.PythonModelContext({"checkpoint": str(checkpoint)}, config)
    translator.load_context(context)
    example = {"image": example_png(translator.image_shape), "direction": DIRECTIONS[0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "add type hints": rows checked in predict
        output = translator.predict(context, [example])
        signature = ModelSignature(input_schema(), infer_signature(None, output).outputs)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(CODE_FILE),
            model_config=config,
            artifacts={"checkpoint": str(Path(checkpoint).resolve())},  # a DVC symlink too
            code_paths=[str(Path(genforge.__file__).parent)],
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(),
        )
