"""params.yaml -> frozen, strict pydantic models, validated once at the entry point.

Every section is `strict`, `frozen` and `extra="forbid"`: an unknown key, a wrong
type or an out-of-range value is an error, never silently corrected. Problems are
reported one line each, naming the key path, the value and what is allowed
(`ParamsError`); the CLI turns that into exit code 2 before anything is written.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, create_model, model_validator

from genforge.data.sources import SOURCES as SOURCE_TABLE
from genforge.models.base import FamilyConfig
from genforge.models.registry import config_class, family_names
from genforge.sections import Fraction, NonNegInt, PosFloat, PosInt, Section
from genforge.translation.sections import TranslationConfig

FAMILIES = family_names()  # every package under models/ (models/registry.py)
SOURCES = tuple(SOURCE_TABLE)  # data/sources.py's table: the one list of data sources
Family = Literal[FAMILIES]  # type: ignore[valid-type]  # a name models.families may hold


# --------------------------------------------------------------------------- data
class ShapesConfig(Section):
    """The procedural `shapes` source: K = len(shapes) x len(colours) classes."""

    shapes: list[Literal["circle", "square", "triangle", "cross", "ring"]] = Field(
        default=["circle", "square", "triangle"], min_length=1
    )
    colours: list[Literal["red", "green", "blue", "yellow", "magenta", "cyan", "white"]] = Field(
        default=["red", "green", "blue"], min_length=1
    )
    per_class: Annotated[int, Field(ge=2)] = 200
    canvas: Annotated[int, Field(ge=8, le=256)] = 32

    @model_validator(mode="after")
    def _unique(self) -> ShapesConfig:
        for key in ("shapes", "colours"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ValueError(f"data.shapes.{key} has duplicates: {values}")
        return self


class DataConfig(Section):
    source: Literal[SOURCES] = "digits"  # type: ignore[valid-type]
    path: str | None = None  # folder / mnist-idx: a directory; npz: a file
    image_size: Annotated[int, Field(ge=4, le=256)] = 16
    channels: Literal[1, 3] = 1
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    max_per_class: Annotated[int, Field(ge=2)] | None = None  # the split needs >= 2 per class
    seed: NonNegInt = 0
    shapes: ShapesConfig = ShapesConfig()

    @model_validator(mode="after")
    def _path_matches_source(self) -> DataConfig:
        needs_path = SOURCE_TABLE[self.source].needs_path
        if needs_path and not self.path:
            raise ValueError(f"data.path is required when data.source is {self.source!r}")
        if not needs_path and self.path:
            raise ValueError(f"data.path must be empty when data.source is {self.source!r}")
        return self


# --------------------------------------------------------------------- featurizer
class FeaturizerConfig(Section):
    # classifier (labels), contrastive (SimCLR, label-free), both; auto: classifier
    # with >= 2 classes, else contrastive
    objective: Literal["auto", "classifier", "contrastive", "both"] = "auto"
    steps: PosInt = 600
    batch_size: PosInt = 64
    lr: PosFloat = 2e-3
    width: PosInt = 32
    feature_dim: PosInt = 128
    min_test_accuracy: Fraction = 0.98  # classifier objectives with >= 2 classes only
    seed: NonNegInt = 0
    max_shift: NonNegInt = 1  # classifier augmentation: random translation by up to this
    temperature: PosFloat = 0.5  # NT-Xent temperature (contrastive)
    # the calibration check: FID must grow by this factor from the floor to the blurred
    # copy, and from the blurred copy to each structure-free reference
    calibration_margin: Annotated[float, Field(ge=1)] = 3.0
    # false: record the calibration but do not fail on it (e.g. tests of the plumbing
    # with few-step featurizers); the gate's relative thresholds then rest on weak features
    calibration_required: bool = True


# ------------------------------------------------------------------------- models
class _ModelsBase(Section):
    """`families` (which to train) plus one section per registered family, each declared
    beside its model in models/<family>/ (models/registry.py finds them)."""

    @model_validator(mode="after")
    def _unique(self) -> _ModelsBase:
        if len(set(self.families)) != len(self.families):
            raise ValueError(f"models.families has duplicates: {self.families}")
        return self

    def family(self, name: str) -> FamilyConfig:
        if name not in FAMILIES:
            raise KeyError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}")
        return getattr(self, name)


def _models_config() -> type[_ModelsBase]:
    """ModelsConfig with a field per registered family (its config class, defaults)."""
    sections = {name: (config_class(name), config_class(name)()) for name in FAMILIES}
    return create_model(
        "ModelsConfig",
        __base__=_ModelsBase,
        __module__=__name__,
        families=(list[Family], Field(default=list(FAMILIES), min_length=1)),
        **sections,
    )


ModelsConfig = _models_config()


# -------------------------------------------------------------------------- train
class TrainConfig(Section):
    seed: NonNegInt = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True  # bf16 autocast, CUDA only
    channels_last: bool = True  # CUDA only
    compile: bool = False
    ema_decay: Fraction = 0.999
    grad_clip: Annotated[float, Field(ge=0)] = 1.0  # 0 disables clipping
    checkpoint_every: PosInt = 500
    log_every: PosInt = 50
    sample_every: PosInt = 500
    nproc_per_node: PosInt = 1  # > 1: `genforge train` starts itself under torchrun (DDP)
    # CPU threads (torch.set_num_threads): how reductions are split changes the weights, so
    # it is a param, not whatever OMP_NUM_THREADS the flow or `dvc repro` happens to set.
    threads: PosInt = 1


# ----------------------------------------------------------------------- evaluate
class EvaluateConfig(Section):
    n_samples: Annotated[int, Field(ge=10)] = 1000
    batch_size: PosInt = 250
    seed: NonNegInt = 1234
    # domain: the featurizer stage's own network; the others are pretrained networks read
    # from the local file `extractor_weights` (never downloaded): torch-fidelity's
    # Inception-v3 state dict, or an OpenAI CLIP TorchScript file
    feature_extractor: Literal[
        "domain", "inception", "clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14", "clip-rn50"
    ] = "domain"
    extractor_weights: str | None = None
    bootstrap: NonNegInt = 200
    cache_dir: str = ".genforge-cache"  # reference statistics, keyed by data/extractor/settings
    kid_subset_size: Annotated[int, Field(ge=2)] = 1000  # clipped to the smaller set
    nearest_k: PosInt = 5  # density/coverage neighbourhood (Naeem et al. 2020)
    # k-NN metrics (density/coverage, precision/recall, two-sample, copying cells) use a
    # seeded subsample of at most this many train features; FID/KID use all of them
    reference_max: Annotated[int, Field(ge=10)] = 10_000
    # bits/dim (likelihood families) on a seeded subset of at most this many test images,
    # recorded as bits_per_dim_n: over a 12k-image test split it was half of evaluate's time
    bits_per_dim_max: Annotated[int, Field(ge=10)] = 2_000
    class_min_fraction: Fraction = 0.2  # a class is covered at >= this x its real share
    c2st_hidden: PosInt = 64  # real-vs-generated MLP width
    c2st_max_iter: PosInt = 200  # its training epochs
    curve_samples: Annotated[int, Field(ge=10)] = 200  # samples per FID-vs-step point

    @model_validator(mode="after")
    def _pretrained_needs_weights(self) -> EvaluateConfig:
        if self.feature_extractor != "domain" and not self.extractor_weights:
            raise ValueError(
                "evaluate.extractor_weights (a local file) is required when "
                f"evaluate.feature_extractor is {self.feature_extractor!r}: no weights are "
                "downloaded"
            )
        return self


# --------------------------------------------------------------------------- gate
class GateConfig(Section):
    """Thresholds; the `_rel` ones are in the dataset's own units (evaluation/calibration.py)."""

    # FID and KID on the floor -> blur scale: 0 = real held-out data, 1 = a 1-pixel blur
    fid_rel_max: PosFloat | None = 0.5
    kid_rel_max: PosFloat | None = 0.5
    # precision, recall, coverage as a share of what real held-out data gets
    precision_rel_min: PosFloat | None = 0.6
    recall_rel_min: PosFloat | None = 0.4
    coverage_rel_min: PosFloat | None = 0.5
    classes_covered_share_min: Fraction = 0.8  # share of the dataset's classes covered
    copying_min: float | None = -3.0  # data-copying z-score (Meehan et al. 2020); << 0 copies
    # optional absolute bounds in raw metric units (null = off)
    fid_max: PosFloat | None = None
    kid_max: PosFloat | None = None
    precision_min: Fraction | None = None
    recall_min: Fraction | None = None
    coverage_min: Fraction | None = None
    classes_covered_min: NonNegInt | None = None  # capped at the dataset's class count
    min_improvement: Fraction = 0.02
    max_diversity_drop: Fraction = 0.05


# ----------------------------------------------------------------- tracking/storage
class TrackingConfig(Section):
    uri: str = "sqlite:///mlflow.db"
    artifacts: str = "mlartifacts"
    experiment_prefix: str = "genforge"
    registered_model_prefix: str = "genforge"
    serve_max_n: Annotated[int, Field(ge=1, le=4096)] = 64


# S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens (AWS naming rules).
S3Bucket = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
S3Prefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9!_.*'()/-]+$")]


class StorageConfig(Section):
    """Where the DVC remote and MLflow artifacts live; credentials only ever come from env."""

    backend: Literal["local", "s3"] = "local"
    dvc_remote: str = ".dvc-remote"  # backend local: a directory (relative to the repo)
    s3_bucket: S3Bucket | None = None  # backend s3: DVC remote and MLflow artifacts
    s3_endpoint: str | None = None  # e.g. http://127.0.0.1:9000; null: AWS_ENDPOINT_URL or AWS
    s3_dvc_prefix: S3Prefix = "dvc"  # DVC remote: s3://<s3_bucket>/<s3_dvc_prefix>
    mlflow_artifacts_uri: str | None = None  # null: s3://<s3_bucket>/mlflow when backend is s3

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> StorageConfig:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError("storage.s3_bucket is required when storage.backend is 's3'")
        if self.s3_endpoint and not self.s3_endpoint.startswith(("http://", "https://")):
            raise ValueError(
                f"storage.s3_endpoint must be an http:// or https:// URL, got {self.s3_endpoint!r}"
            )
        if self.mlflow_artifacts_uri and not self.mlflow_artifacts_uri.startswith("s3://"):
            raise ValueError(
                "storage.mlflow_artifacts_uri must be an s3://bucket/prefix URI, "
                f"got {self.mlflow_artifacts_uri!r}"
            )
        return self


# -------------------------------------------------------------------------- serve
class ServeConfig(Section):
    """`genforge serve`: models:/<registered model>@champion over HTTP, following the alias."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 5050
    poll_s: PosFloat = 10.0  # how often the registry's champion alias is read
    max_images: Annotated[int, Field(ge=1, le=4096)] = 64  # per page request (also <= serve_max_n)
    max_concurrent: PosInt = 2  # requests sampling at once
    max_queue: NonNegInt = 16  # requests waiting for a slot; one more gets HTTP 429
    max_body_bytes: Annotated[int, Field(ge=1024)] = 65536  # larger bodies get HTTP 413
    url: str | None = None  # a running service whose /health the flow reports after a promotion
    swap_wait_s: Annotated[float, Field(ge=0)] = 60.0  # how long the flow waits for the swap

    @model_validator(mode="after")
    def _http_url(self) -> ServeConfig:
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"serve.url must be an http:// or https:// URL, got {self.url!r}")
        return self


# ------------------------------------------------------------------------- report
SweepSetting = Annotated[int, Field(ge=1)] | Literal["ancestral"]


class TransferConfig(Section):
    """Table 6: fine-tuning against training from scratch, at equal steps."""

    # null: the main run's models, fine-tuned on the other embedded source; digits | shapes:
    # pre-trained there for `steps`, then fine-tuned on this project's data
    from_source: Literal["digits", "shapes"] | None = None
    steps: PosInt | None = None  # pre-training steps (from_source set); null = report.study_steps


class ReportConfig(Section):
    """The comparison report and the extra training of its tables 6 and 7."""

    # table 7: the comparison on each (the project's own source is the main run itself)
    datasets: list[Literal["digits", "shapes"]] = ["digits", "shapes"]
    transfer: TransferConfig | None = TransferConfig()  # table 6; null skips it
    study_steps: PosInt = 300  # training steps per family in the studies (tables 6, 7)
    study_samples: Annotated[int, Field(ge=10)] = 250  # evaluation samples in the studies
    study_jobs: PosInt = 2  # families studied at once (processes of train.threads each)
    diffusion_sweep: list[SweepSetting] = Field(
        default=[10, 25, 50, 100], min_length=1
    )  # DDIM step counts, "ancestral" = every timestep, eta = 1 (make report-full)
    sweep_samples: Annotated[int, Field(ge=10)] = 100  # samples per sweep setting
    # table 5c: the truncation trade-off of a family that offers it (stylegan)
    truncation_psi: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default=[1.0, 0.8, 0.6, 0.4], min_length=1
    )
    ood_source: Literal["digits", "shapes"] | None = None  # anomaly OOD data; null = the other
    anomaly_images: Annotated[int, Field(ge=4)] = 300  # in- and out-of-distribution each
    speed_images: PosInt = 32  # images timed per family and device (table 5)

    @model_validator(mode="after")
    def _unique(self) -> ReportConfig:
        for key in ("datasets", "diffusion_sweep", "truncation_psi"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ValueError(f"report.{key} has duplicates: {values}")
        return self


class Params(Section):
    data: DataConfig = DataConfig()
    featurizer: FeaturizerConfig = FeaturizerConfig()
    models: ModelsConfig = ModelsConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    gate: GateConfig = GateConfig()
    tracking: TrackingConfig = TrackingConfig()
    storage: StorageConfig = StorageConfig()
    report: ReportConfig = ReportConfig()
    serve: ServeConfig = ServeConfig()
    translation: TranslationConfig = TranslationConfig()


# ------------------------------------------------------------------------ loading
class ParamsError(Exception):
    """An invalid params file; `problems` holds one human-readable line each."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


def _describe(error: dict[str, Any]) -> str:
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    kind, value, msg = error["type"], error.get("input"), error["msg"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown key (value {value!r}); remove it or fix its spelling"
    if kind == "value_error":  # our cross-field checks name their keys themselves
        return msg.removeprefix("Value error, ")
    if kind == "missing":
        return f"{loc}: required key is missing"
    return f"{loc}: {value!r} is not allowed: {msg}"


def validate(raw: Any, source: str | Path = "params.yaml") -> Params:
    """Validate an already-parsed params mapping; raise ParamsError listing every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(
            source, [f"top level must be a mapping of sections, got {type(raw).__name__}"]
        )
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(source, [_describe(e) for e in exc.errors()]) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (YAML keeps the last,
    so `seed: 1 ... seed: 2` would silently mean 2). Merge keys (`<<`) still override."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, Hashable):
                continue  # SafeLoader reports unhashable keys itself
            if key in seen:
                raise ParamsError(
                    self.name,
                    [
                        f"duplicate key {key!r} at line {line} (first at line {seen[key]}); "
                        "YAML would keep only the last one: remove one of them"
                    ],
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; raise ParamsError naming each problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ParamsError(path, [f"cannot read the params file: {exc.strerror}"]) from None
    loader = _UniqueKeyLoader(text)
    loader.name = str(path)
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ParamsError(path, [f"not valid YAML: {exc}".replace("\n", " ")]) from None
    finally:
        loader.dispose()
    return validate(raw, path)
