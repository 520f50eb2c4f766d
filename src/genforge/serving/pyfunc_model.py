"""The served model: an `mlflow.pyfunc` wrapper around a genforge checkpoint.

Input: rows of {"n": int, "seed": int, "label": int or null} (a DataFrame, a dict or
a list of dicts; "seed" defaults to 0 and "label" to null). Output: one row per image
with the request's index, the image's index, its label (null for unconditional
models), the PNG as base64 and the image shape [C, H, W]. A request for more than
`tracking.serve_max_n` images in all, a label the model does not know, or a malformed
payload is refused with an MLflow INVALID_PARAMETER_VALUE error (HTTP 400) that says
what is allowed, before anything is sampled.

    mlflow models serve -m models:/genforge-digits@champion --env-manager local
"""

from __future__ import annotations

import base64
import math
import numbers
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
import torch

# genforge's runtime imports at sampling time; pinned to what is installed here.
RUNTIME_DISTRIBUTIONS = (
    "torch",
    "torchvision",
    "numpy",
    "pandas",
    "pillow",
    "mlflow",
    "pydantic",
    "pyyaml",
    "safetensors",
)
FIELDS = ("n", "seed", "label", "psi")  # psi: only for a model that offers truncation
CODE_FILE = Path(__file__).with_name("pyfunc_code.py")  # models-from-code: no pickle


@dataclass(frozen=True)
class SampleRequest:
    n: int
    seed: int
    label: int | None
    psi: float | None = None  # truncation (stylegan): 1 = none, 0 = the average w


def _records(
    payload: Any, expected: str = "{'n': int, 'seed': int, 'label': int or null}"
) -> list[dict[str, Any]]:
    """DataFrame / dict / list of dicts -> list of dicts (anything else is refused, saying
    the `expected` row)."""
    if hasattr(payload, "to_dict") and hasattr(payload, "columns"):
        return payload.to_dict(orient="records")
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list) and all(isinstance(r, dict) for r in payload):
        return payload
    raise ValueError(f"expected rows of {expected}, got {type(payload).__name__}")


def _integer(value: Any, field: str, row: int) -> int | None:
    """An integral value (ints, or floats pandas made of ints); None for null/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"row {row}: {field} must be an integer, got {value!r}")
    if not float(value).is_integer():
        raise ValueError(f"row {row}: {field} must be an integer, got {value!r}")
    return int(value)


def parse_requests(
    payload: Any, max_n: int, num_classes: int, conditional: bool, truncates: bool = False
) -> list[SampleRequest]:
    """Validate a payload into sample requests; ValueError names the culprit."""
    rows = _records(payload)
    if not rows:
        raise ValueError("empty request: send at least one row {'n': int, ...}")
    out = []
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - set(FIELDS))
        if unknown:
            raise ValueError(f"row {i}: unknown field(s) {unknown}; allowed: {list(FIELDS)}")
        n = _integer(row.get("n"), "n", i)
        if n is None or n < 1:
            raise ValueError(f"row {i}: n must be an integer >= 1, got {row.get('n')!r}")
        seed = _integer(row.get("seed"), "seed", i)
        seed = 0 if seed is None else seed
        if not 0 <= seed < 2**53:  # exact in a JSON number / double
            raise ValueError(f"row {i}: seed must be in [0, 2**53), got {seed}")
        label = _integer(row.get("label"), "label", i)
        if label is not None and not conditional:
            raise ValueError(f"row {i}: this model is unconditional; label must be null")
        if label is not None and not 0 <= label < num_classes:
            raise ValueError(
                f"row {i}: unknown label {label}; this model knows 0..{num_classes - 1}"
            )
        out.append(SampleRequest(n, seed, label, _psi(row.get("psi"), i, truncates)))
    total = sum(r.n for r in out)
    if total > max_n:
        raise ValueError(
            f"{total} images requested; at most {max_n} per request "
            "(tracking.serve_max_n when the model was logged)"
        )
    return out


def _psi(value: Any, row: int, truncates: bool) -> float | None:
    """The truncation psi of one row: a number in [0, 1], only for a model that has it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not truncates:
        raise ValueError(f"row {row}: this model has no truncation; psi must be null")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"row {row}: psi must be a number in [0, 1], got {value!r}")
    return float(value)


def png_base64(image: torch.Tensor) -> str:
    """uint8 (C, H, W) -> base64 PNG (grey for one channel)."""
    from PIL import Image

    from genforge.grids import png_bytes

    array = image.permute(1, 2, 0).numpy()  # (H, W, C)
    pil = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    return base64.b64encode(png_bytes(pil)).decode("ascii")


def served_max_n(context) -> int:
    """The most images (or rows) one request may ask for: the logged model's config."""
    config = context.model_config or {}
    if "max_n" not in config:
        raise ValueError("the served model's model_config has no 'max_n' (log it again)")
    return int(config["max_n"])


class ImageSampler(mlflow.pyfunc.PythonModel):
    """Samples a genforge checkpoint (its EMA weights) on request.

    Built with no arguments by `pyfunc_code.py` (models-from-code); everything it needs
    comes from the model's context: the checkpoint artifact and `model_config["max_n"]`.
    """

    kind = "generation"  # what the server asks of a loaded model (cf. ImageTranslator)

    def __init__(self):
        self.max_n = 0
        self.model = None

    def load_context(self, context) -> None:
        from genforge.training.checkpoint import load_model

        self.max_n = served_max_n(context)
        self.model = load_model(Path(context.artifacts["checkpoint"]), map_location="cpu")
        self.model.eval()

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        # DataFrame: MLflow converts the validated rows to one; the hint opts out of
        # MLflow's type-hint-based validation (and its warning)
        from mlflow.exceptions import MlflowException

        model = self.model
        try:
            requests = parse_requests(
                model_input,
                self.max_n,
                model.num_classes,
                model.cfg.conditional,
                model.offers("truncation"),
            )
        except ValueError as exc:
            raise MlflowException.invalid_parameter_value(str(exc)) from None
        rows = []
        for i, req in enumerate(requests):
            gen = torch.Generator().manual_seed(req.seed)
            labels = None
            if model.cfg.conditional:  # null label: classes in turn (0, 1, ..., K-1, 0, ...)
                labels = (
                    torch.full((req.n,), req.label)
                    if req.label is not None
                    else torch.arange(req.n) % model.num_classes
                )
            kwargs = {} if req.psi is None else model.truncation(req.psi)
            with torch.no_grad():
                images = model.sample(req.n, labels=labels, generator=gen, **kwargs).cpu()
            for j, image in enumerate(images):
                rows.append(
                    {
                        "request": i,
                        "index": j,
                        "label": None if labels is None else int(labels[j]),
                        "png": png_base64(image),
                        "shape": list(image.shape),
                    }
                )
        return pd.DataFrame(rows)


def pip_requirements() -> list[str]:
    """genforge's runtime dependencies pinned to the running environment's versions."""
    pins = []
    for dist in RUNTIME_DISTRIBUTIONS:
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return pins


def input_schema():
    """n, seed and label, typed "any": MLflow's own coercion would refuse a null label in
    an integer column and silently truncate n = 2.5; predict() checks every value and
    says which one is wrong."""
    from mlflow.types.schema import AnyType, ColSpec, Schema

    return Schema(
        [
            ColSpec(AnyType(), "n"),
            ColSpec(AnyType(), "seed", required=False),
            ColSpec(AnyType(), "label", required=False),
            ColSpec(AnyType(), "psi", required=False),
        ]
    )


def log_sampler_model(checkpoint: Path, max_n: int, name: str = "model"):
    """Log the checkpoint as a pyfunc model of the active run; returns mlflow's ModelInfo.

    Logged from code (`pyfunc_code.py`), not as a cloudpickled instance: loading the
    model executes genforge's own source and reads the checkpoint with weights_only.
    The model carries genforge's source (code_paths), so `mlflow models serve
    --env-manager local` imports the same code that trained it.
    """
    from mlflow.models import ModelSignature, infer_signature

    import genforge

    config = {"max_n": max_n}
    sampler = ImageSampler()
    context = mlflow.pyfunc.PythonModelContext({"checkpoint": str(checkpoint)}, config)
    sampler.load_context(context)
    conditional = sampler.model.cfg.conditional
    example = {"n": min(2, max_n), "seed": 0, **({"label": 0} if conditional else {})}
    with warnings.catch_warnings():
        # "add type hints" / "integer columns": rows are validated in predict()
        warnings.simplefilter("ignore", UserWarning)
        output = sampler.predict(context, [example])
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
