"""`genforge featurize`: a small CNN trained on the prepared data, the domain feature extractor.

No Inception weights can be downloaded here, so FID, KID, precision/recall,
density/coverage, the two-sample and the data-copying tests are computed on the
penultimate layer of a small CNN trained on the prepared train split ("domain FID",
the usual practice for MNIST-like data). `featurizer.objective` chooses how it learns:

- classifier: cross-entropy on the labels, when they carry the classes;
- contrastive: label-free SimCLR (contrastive.py), for one-class or unlabeled folders,
  where a classifier has no gradient and stays at its random initialisation;
- both: the two losses on one network;
- auto (default): classifier with two or more classes, else contrastive.

The classifier head's predictions give class coverage and label accuracy.

Before anything is written, the features must prove themselves on this data: the
calibration references (reference.py, calibration.py) are scored and must be ordered
floor < blur < structure-free by `featurizer.calibration_margin`. Writes
``featurizer.pt`` (architecture, weights, data hash, objective; loadable with
``weights_only=True``), ``metrics.json`` and ``calibration.json`` (every reference's
metrics and its place on the scale); fails without writing anything when the
calibration fails or a classifier's test accuracy is below
``featurizer.min_test_accuracy``.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from genforge.config import FeaturizerConfig, Params
from genforge.data.atomic import write_json_atomic
from genforge.data.prepare import load_meta, load_prepared
from genforge.errors import GenforgeError
from genforge.evaluation.contrastive import ProjectionHead, nt_xent, random_view
from genforge.layout import CALIBRATION, FEATURIZER_METRICS, FEATURIZER_WEIGHTS

FORMAT_VERSION = 1


class FeaturizerError(GenforgeError):
    """The featurizer is missing, unreadable, for other data, or not accurate enough."""


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch and NumPy/BLAS on one thread, restoring torch's setting afterwards.

    Everything in evaluation works on small tensors, where extra threads only spin:
    on a busy 2-core machine training the featurizer took 115 s with 2 threads and
    20 s with 1, and scoring was ten times slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


class DomainNet(nn.Module):
    """A small CNN: (features, logits) for uint8 or [-1, 1] float images (B, C, H, W)."""

    def __init__(self, in_channels: int, num_classes: int, width: int, feature_dim: int):
        super().__init__()
        self.arch = {
            "in_channels": in_channels,
            "num_classes": num_classes,
            "width": width,
            "feature_dim": feature_dim,
        }

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        w = width
        self.body = nn.Sequential(
            *block(in_channels, w), *block(w, w), nn.MaxPool2d(2),
            *block(w, 2 * w), *block(2 * w, 2 * w), nn.AdaptiveAvgPool2d(2),
        )  # fmt: skip
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(8 * w, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dtype == torch.uint8:
            x = x.float() / 127.5 - 1.0
        features = self.embed(self.body(x))  # (B, feature_dim)
        return features, self.head(features)

    @torch.no_grad()
    def predict(self, images: Tensor, batch_size: int = 500) -> Tensor:
        """Class predictions (N,) for uint8 images (N, C, H, W), computed in eval mode."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = [self(b.to(device))[1].argmax(1).cpu() for b in images.split(batch_size)]
        self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by up to `max_shift` pixels (edge pixels repeat)."""
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (b, 2), generator=generator).float()
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = 2 * shifts[:, 0] / w  # normalised coordinates span 2 over the width
    theta[:, 1, 2] = 2 * shifts[:, 1] / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=False)


def accuracy(net: DomainNet, x: Tensor, y: Tensor) -> float:
    return float((net.predict(x) == y).float().mean()) if len(y) else float("nan")


def objective_for(cfg: FeaturizerConfig, num_classes: int) -> str:
    """The objective `featurizer.objective` means for data with `num_classes` classes."""
    if cfg.objective != "auto":
        return cfg.objective
    return "classifier" if num_classes >= 2 else "contrastive"


def fit(cfg: FeaturizerConfig, x: Tensor, y: Tensor, num_classes: int, objective: str) -> DomainNet:
    """Train a DomainNet on uint8 images (N, C, H, W) with Adam and a cosine schedule.

    `objective` is classifier (cross-entropy on `y`), contrastive (NT-Xent on two
    random views, labels unused) or both (the sum). Each batch is scaled to [-1, 1] on
    its own: a float copy of the whole split would be 4x its uint8 size (737 MB at 60k
    32x32 RGB images).
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = DomainNet(x.shape[1], num_classes, cfg.width, cfg.feature_dim)
    head = ProjectionHead(cfg.feature_dim) if objective != "classifier" else None
    params = [*net.parameters(), *(head.parameters() if head else [])]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / cfg.steps))
    )
    batch = min(cfg.batch_size, len(y))
    net.train()
    for _ in range(cfg.steps):
        idx = torch.randint(0, len(y), (batch,), generator=gen)
        xb = x[idx].float() / 127.5 - 1.0
        loss = torch.zeros(())
        if objective in ("classifier", "both"):
            _, logits = net(random_shift(xb, cfg.max_shift, gen))
            loss = loss + F.cross_entropy(logits, y[idx])
        if head is not None:
            h1, _ = net(random_view(xb, gen))
            h2, _ = net(random_view(xb, gen))
            loss = loss + nt_xent(head(h1), head(h2), cfg.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def to_nchw(x) -> Tensor:
    """Prepared uint8 (N, H, W, C) numpy -> uint8 tensor (N, C, H, W)."""
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def train_featurizer(
    params: Params, prepared_dir: Path, out_dir: Path, cache_dir: Path
) -> dict[str, Any]:
    """Train the featurizer on the train split, calibrate it, write it only if it passes.

    Returns the metrics written to ``out_dir/metrics.json`` (``accuracy`` is the
    test-split accuracy of the classifier head). Raises FeaturizerError when a
    classifier's accuracy is below ``featurizer.min_test_accuracy`` or the features
    cannot order the calibration references; nothing is written then.
    """
    cfg = params.featurizer
    meta = load_meta(prepared_dir)
    (xtr, ytr), (xte, yte) = (
        load_prepared(prepared_dir, "train"),
        load_prepared(prepared_dir, "test"),
    )
    xtr, xte, ytr, yte = to_nchw(xtr), to_nchw(xte), torch.from_numpy(ytr), torch.from_numpy(yte)
    objective = objective_for(cfg, meta["num_classes"])
    start = time.perf_counter()
    with one_thread():
        net = fit(cfg, xtr, ytr, meta["num_classes"], objective)
        test_acc, train_acc = accuracy(net, xte, yte), accuracy(net, xtr, ytr)
    image_shape = tuple(xtr.shape[1:])
    del xtr, xte  # calibration loads the splits again: never two decoded copies at once
    metrics = {
        "objective": objective,
        "accuracy": round(test_acc, 5),
        "train_accuracy": round(train_acc, 5),
        "train_seconds": round(time.perf_counter() - start, 2),
        "steps": cfg.steps,
        "feature_dim": cfg.feature_dim,
        "data_hash": meta["sha256"],
    }
    classifies = objective != "contrastive" and meta["num_classes"] >= 2
    if classifies and not metrics["accuracy"] >= cfg.min_test_accuracy:
        raise FeaturizerError(
            f"featurizer test accuracy {metrics['accuracy']:.4f} is below "
            f"featurizer.min_test_accuracy={cfg.min_test_accuracy} (train accuracy "
            f"{metrics['train_accuracy']:.4f}); raise featurizer.steps or featurizer.width, "
            f"or lower the threshold; nothing was written to {out_dir}"
        )
    state = featurizer_state(
        net,
        objective,
        image_shape,
        meta["sha256"],
        meta["class_names"],
        test_accuracy=metrics["accuracy"],
    )
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".featurizer-") as staging:
        staging = Path(staging)
        torch.save(state, staging / FEATURIZER_WEIGHTS)
        calibration = calibrate(params, prepared_dir, staging, cache_dir)
        metrics.update(calibration["summary"])
        if calibration["problems"] and not cfg.calibration_required:
            print(
                "warning: featurizer.calibration_required is false and the features cannot "
                "order the calibration references ("
                + "; ".join(calibration["problems"])
                + "): the gate's dataset-relative thresholds rest on unproven features",
                file=sys.stderr,
            )
        if calibration["problems"] and cfg.calibration_required:
            others = " or ".join(o for o in ("contrastive", "both", "classifier") if o != objective)
            raise FeaturizerError(
                f"the {objective} features cannot tell good from bad images on this data: "
                + "; ".join(calibration["problems"])
                + f". Raise featurizer.steps (now {cfg.steps}) or featurizer.width, try "
                f"featurizer.objective: {others}, or a pretrained extractor "
                f"(evaluate.feature_extractor); nothing was written to {out_dir}"
            )
        metrics["seconds_with_calibration"] = round(time.perf_counter() - start, 2)
        write_json_atomic(staging / FEATURIZER_METRICS, metrics)
        write_json_atomic(staging / CALIBRATION, calibration)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in (
            FEATURIZER_WEIGHTS,
            FEATURIZER_METRICS,
            CALIBRATION,
        ):  # the weights (their digest) unchanged
            os.replace(staging / name, out_dir / name)
    return metrics


def featurizer_state(
    net: DomainNet,
    objective: str,
    image_shape: tuple[int, ...],
    data_hash: str,
    class_names: list[str],
    **extra: Any,
) -> dict[str, Any]:
    """What ``featurizer.pt`` holds (`load_featurizer` and the extractor read it); `extra`
    adds keys such as the test accuracy."""
    return {
        "format_version": FORMAT_VERSION,
        "arch": net.arch,
        "objective": objective,
        "image_shape": list(image_shape),  # (C, H, W)
        "data_hash": data_hash,
        "class_names": class_names,
        **extra,
        "state_dict": net.state_dict(),
    }


def calibrate(params: Params, prepared_dir: Path, featurizer_dir: Path, cache_dir: Path) -> dict:
    """Score the calibration references with the featurizer in `featurizer_dir`."""
    from genforge.evaluation.calibration import calibration_problems, summary, with_relative
    from genforge.evaluation.reference import reference_for
    from genforge.evaluation.scoring import load_judge

    cfg = params.evaluate
    judge = load_judge(cfg, prepared_dir, featurizer_dir, cache_dir)
    refs, _ = reference_for(judge, cfg.n_samples, cfg.seed)
    margin = params.featurizer.calibration_margin
    return {
        "extractor": judge.extractor.label,
        "margin": margin,
        "problems": calibration_problems(refs, margin),
        "summary": summary(refs),
        "references": with_relative(refs),
    }


def weights_path(featurizer_dir: Path) -> Path:
    path = Path(featurizer_dir) / FEATURIZER_WEIGHTS
    if not path.is_file():
        raise FeaturizerError(f"{path}: no featurizer here; run `genforge featurize` first")
    return path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_featurizer(path: Path) -> tuple[DomainNet, dict[str, Any]]:
    """Rebuild the classifier from ``featurizer.pt`` (a file, or the folder holding it).

    Returns (net in eval mode on the CPU, the saved state without the weights).
    """
    path = Path(path)
    path = weights_path(path) if path.is_dir() else path
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign files raise several types
        raise FeaturizerError(f"{path}: cannot read the featurizer ({exc})") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise FeaturizerError(f"{path}: not a genforge featurizer (format {FORMAT_VERSION})")
    net = DomainNet(**state["arch"])
    net.load_state_dict(state.pop("state_dict"))
    return net.eval(), state
