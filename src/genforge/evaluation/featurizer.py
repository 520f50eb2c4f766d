"""`genforge featurize`: a small classifier on the prepared data, the domain feature extractor.

No Inception weights can be downloaded here, so FID, KID, precision/recall,
density/coverage and the two-sample test are computed on the penultimate layer of a
classifier trained on the prepared train split ("domain FID", the usual practice for
MNIST-like data). Its predictions also give class coverage and label accuracy.

Writes ``featurizer.pt`` (architecture, weights, data hash, test accuracy; loadable
with ``weights_only=True``) and ``metrics.json``; fails without writing anything when
the test accuracy is below ``featurizer.min_test_accuracy``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
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
from genforge.data.prepare import load_meta, load_prepared
from genforge.errors import GenforgeError

WEIGHTS = "featurizer.pt"
METRICS = "metrics.json"
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


def fit(cfg: FeaturizerConfig, x: Tensor, y: Tensor, num_classes: int) -> DomainNet:
    """Train a DomainNet on uint8 images (N, C, H, W) with Adam and a cosine schedule."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = DomainNet(x.shape[1], num_classes, cfg.width, cfg.feature_dim)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / cfg.steps))
    )
    xf = x.float() / 127.5 - 1.0
    batch = min(cfg.batch_size, len(y))
    net.train()
    for _ in range(cfg.steps):
        idx = torch.randint(0, len(y), (batch,), generator=gen)
        _, logits = net(random_shift(xf[idx], cfg.max_shift, gen))
        loss = F.cross_entropy(logits, y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def to_nchw(x) -> Tensor:
    """Prepared uint8 (N, H, W, C) numpy -> uint8 tensor (N, C, H, W)."""
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def train_featurizer(params: Params, prepared_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Train the domain classifier on the train split; write it only if accurate enough.

    Returns the metrics written to ``out_dir/metrics.json`` (``accuracy`` is the
    test-split accuracy). Raises FeaturizerError when it is below
    ``featurizer.min_test_accuracy``.
    """
    cfg = params.featurizer
    meta = load_meta(prepared_dir)
    (xtr, ytr), (xte, yte) = (
        load_prepared(prepared_dir, "train"),
        load_prepared(prepared_dir, "test"),
    )
    xtr, xte, ytr, yte = to_nchw(xtr), to_nchw(xte), torch.from_numpy(ytr), torch.from_numpy(yte)
    start = time.perf_counter()
    with one_thread():
        net = fit(cfg, xtr, ytr, meta["num_classes"])
        test_acc, train_acc = accuracy(net, xte, yte), accuracy(net, xtr, ytr)
    seconds = time.perf_counter() - start
    metrics = {
        "accuracy": round(test_acc, 5),
        "train_accuracy": round(train_acc, 5),
        "train_seconds": round(seconds, 2),
        "steps": cfg.steps,
        "feature_dim": cfg.feature_dim,
        "data_hash": meta["sha256"],
    }
    if not metrics["accuracy"] >= cfg.min_test_accuracy:
        raise FeaturizerError(
            f"featurizer test accuracy {metrics['accuracy']:.4f} is below "
            f"featurizer.min_test_accuracy={cfg.min_test_accuracy} (train accuracy "
            f"{metrics['train_accuracy']:.4f}); raise featurizer.steps or featurizer.width, "
            f"or lower the threshold; nothing was written to {out_dir}"
        )
    state = {
        "format_version": FORMAT_VERSION,
        "arch": net.arch,
        "image_shape": list(xtr.shape[1:]),  # (C, H, W)
        "data_hash": meta["sha256"],
        "class_names": meta["class_names"],
        "test_accuracy": metrics["accuracy"],
        "state_dict": net.state_dict(),
    }
    save_featurizer(state, metrics, Path(out_dir))
    return metrics


def save_featurizer(state: dict[str, Any], metrics: dict[str, Any], out_dir: Path) -> None:
    """Write weights then metrics, each to a temporary file renamed into place."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, write in (
        (WEIGHTS, lambda p: torch.save(state, p)),
        (METRICS, lambda p: p.write_text(json.dumps(metrics, indent=2) + "\n")),
    ):
        tmp = out_dir / f".{name}.tmp-{os.getpid()}"
        try:
            write(tmp)
            os.replace(tmp, out_dir / name)
        finally:
            tmp.unlink(missing_ok=True)


def weights_path(featurizer_dir: Path) -> Path:
    path = Path(featurizer_dir) / WEIGHTS
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
