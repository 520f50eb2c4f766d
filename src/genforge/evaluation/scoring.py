"""Score a set of images against the prepared train split: every metric, one feature pass.

`Judge` holds what is fixed for one data version (the real images, the featurizer,
the extractor and the cache name of the real statistics); `Judge.score` turns
uint8 images into the flat metric dict of metrics/<family>.json. Candidates,
the real-vs-real floor and the baselines all go through it, so their numbers are
comparable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genforge.config import EvaluateConfig
from genforge.data.prepare import load_meta, load_prepared
from genforge.evaluation.cache import cache_name
from genforge.evaluation.copying import copying_statistic
from genforge.evaluation.diversity import (
    class_histogram,
    class_metrics,
    density_coverage,
    label_accuracy,
)
from genforge.evaluation.extractor import Extractor, resolve_extractor
from genforge.evaluation.featurizer import (
    DomainNet,
    FeaturizerError,
    load_featurizer,
    one_thread,
    to_nchw,
)
from genforge.evaluation.fidelity import (
    bootstrap_fid,
    features,
    fid_only,
    fidelity_kwargs,
    fidelity_metrics,
    input1_features,
)
from genforge.evaluation.two_sample import c2st

# The metrics of one scored image set, in file order (candidates and reference points).
METRIC_KEYS = (
    "fid", "fid_ci_low", "fid_ci_high", "kid", "kid_std", "precision", "recall",
    "density", "coverage", "classes_covered", "num_classes", "class_hist_distance",
    "label_accuracy", "c2st_accuracy", "c2st_fooled", "copying", "n_samples", "eval_seconds",
)  # fmt: skip


@dataclass
class Scored:
    """The metrics of one image set plus what the report images need."""

    metrics: dict[str, Any]
    p_real: np.ndarray  # held-out P(real) of each image under the two-sample test
    features: Tensor  # (N, D) of the scored images


@dataclass
class Judge:
    """Everything fixed per data version that scoring needs."""

    cfg: EvaluateConfig
    meta: dict[str, Any]
    extractor: Extractor
    classifier: DomainNet
    train: tuple[Tensor, Tensor]  # uint8 (N, C, H, W), int64 (N,)
    test: tuple[Tensor, Tensor]
    cache_dir: Path

    @property
    def data_hash(self) -> str:
        return self.meta["sha256"]

    @property
    def real_hist(self) -> np.ndarray:
        """Class shares of the train split's labels (what conditional models are asked for)."""
        return class_histogram(self.train[1], self.meta["num_classes"])

    @cached_property
    def predicted_hist(self) -> np.ndarray:
        """Class shares the featurizer predicts on the train split: the reference for
        generated samples, whose classes are predicted too (its errors cancel out)."""
        with one_thread():
            predicted = self.classifier.predict(self.train[0])
        return class_histogram(predicted, self.meta["num_classes"])

    def split_name(self, split: str) -> str:
        """torch-fidelity cache name of a split's features (and the train split's statistics)."""
        x = getattr(self, split)[0]
        return cache_name(
            split, self.data_hash, self.extractor, image_shape=list(x.shape[1:]), n=len(x)
        )

    @property
    def real_name(self) -> str:
        return self.split_name("train")

    def kwargs(self, images: Tensor, seed: int) -> dict[str, Any]:
        return fidelity_kwargs(
            images,
            self.train[0],
            self.extractor,
            self.real_name,
            self.cache_dir,
            seed,
            self.cfg.batch_size,
            self.cfg.kid_subset_size,
        )

    def _split_features(self, split: str) -> Tensor:
        kwargs = {
            **self.kwargs(getattr(self, split)[0], 0),
            "input1_cache_name": self.split_name(split),
        }
        with one_thread():
            return input1_features(kwargs)

    @cached_property
    def train_features(self) -> Tensor:
        """Features (N, D) of the train split (from torch-fidelity's cache once computed)."""
        return self._split_features("train")

    @cached_property
    def test_features(self) -> Tensor:
        """Features (n, D) of the test split: the held-out set of the data-copying test."""
        return self._split_features("test")

    def fid(self, images: Tensor, seed: int) -> float:
        """FID only (the curve callback): real statistics from the cache."""
        self.check_shape(images)
        with one_thread():
            return fid_only(self.kwargs(images, seed))

    def score(self, images: Tensor, requested: Tensor | None, seed: int) -> Scored:
        """All metrics of uint8 images (N, C, H, W); `requested` = labels asked for, if any.

        Runs on one thread (see `one_thread`): the matrices here are small.
        """
        self.check_shape(images)
        with one_thread():
            return self._score(images, requested, seed)

    def _score(self, images: Tensor, requested: Tensor | None, seed: int) -> Scored:
        start = time.perf_counter()
        kwargs = self.kwargs(images, seed)
        metrics: dict[str, Any] = fidelity_metrics(kwargs)
        gen_f, real_f, real_stats = features(kwargs)
        low, high = bootstrap_fid(metrics["fid"], gen_f, real_stats, self.cfg.bootstrap, seed)
        metrics.update(fid_ci_low=low, fid_ci_high=high)
        metrics.update(density_coverage(real_f, gen_f, self.cfg.nearest_k))
        predicted = self.classifier.predict(images)
        metrics.update(class_metrics(predicted, self.predicted_hist, self.cfg.class_min_fraction))
        metrics["label_accuracy"] = label_accuracy(predicted, requested)
        two_sample, p_real = c2st(real_f, gen_f, seed, self.cfg.c2st_hidden, self.cfg.c2st_max_iter)
        metrics.update(two_sample)
        metrics["copying"] = copying_statistic(real_f, self.test_features, gen_f, seed)
        metrics.update(n_samples=len(images), eval_seconds=time.perf_counter() - start)
        return Scored({k: metrics[k] for k in METRIC_KEYS}, p_real, gen_f)

    def check_shape(self, images: Tensor) -> None:
        want = tuple(self.train[0].shape[1:])
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != want:
            raise ValueError(
                f"images to score must be uint8 (N, {', '.join(map(str, want))}) like the "
                f"prepared data, got {images.dtype} {tuple(images.shape)}"
            )


def load_judge(
    cfg: EvaluateConfig, prepared_dir: Path, featurizer_dir: Path, cache_dir: Path
) -> Judge:
    """Read the prepared splits and the featurizer; refuse a featurizer of other data."""
    meta = load_meta(prepared_dir)
    classifier, state = load_featurizer(featurizer_dir)
    if state["data_hash"] != meta["sha256"]:
        raise FeaturizerError(
            f"{featurizer_dir}: the featurizer was trained on data {state['data_hash'][:12]}, "
            f"but {prepared_dir} holds {meta['sha256'][:12]}; run `genforge featurize` again"
        )
    splits = []
    for split in ("train", "test"):
        x, y = load_prepared(prepared_dir, split)
        splits.append((to_nchw(x), torch.from_numpy(y)))
    return Judge(
        cfg=cfg,
        meta=meta,
        extractor=resolve_extractor(cfg, featurizer_dir),
        classifier=classifier,
        train=splits[0],
        test=splits[1],
        cache_dir=Path(cache_dir),
    )
