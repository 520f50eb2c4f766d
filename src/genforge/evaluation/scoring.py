"""Score a set of images against the prepared train split: every metric, one feature pass.

`Judge` holds what is fixed for one data version (the real images, the featurizer,
the extractor and the cache name of the real statistics); `Judge.score` turns
uint8 images into the flat metric dict of metrics/<family>.json. Candidates,
the real-vs-real floor and the baselines all go through it, so their numbers are
comparable.

Memory and time at scale: the images stay uint8 (60k x 32x32x3 is 184 MB) and go
through the networks in batches; FID/KID use every train feature, the k-NN metrics
(precision/recall, density/coverage, the two-sample test, the copying test's cells) a
seeded subsample of at most `evaluate.reference_max` of them (`reference_index`,
recorded as `reference_n`). What depends only on the data (the subsample's k-NN radii,
the test split's distances to the train split) is computed once per Judge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genforge.config import EvaluateConfig
from genforge.data.prepare import load_meta, load_prepared
from genforge.evaluation.cache import cache_name, read_array, read_json, write_array, write_json
from genforge.evaluation.copying import copying_statistic, nearest_distances
from genforge.evaluation.diversity import (
    class_histogram,
    class_metrics,
    density_coverage,
    knn_radii,
    label_accuracy,
    nearest_k_for,
    reference_subsample,
)
from genforge.evaluation.extractor import Extractor, resolve_extractor
from genforge.evaluation.featurizer import (
    DomainNet,
    FeaturizerError,
    file_sha256,
    load_featurizer,
    one_thread,
    to_nchw,
    weights_path,
)
from genforge.evaluation.fidelity import (
    bootstrap_fid,
    features,
    fid_only,
    fidelity_kwargs,
    fidelity_metrics,
    input1_features,
    precision_recall,
)
from genforge.evaluation.two_sample import c2st

# The metrics of one scored image set, in file order (candidates and reference points).
METRIC_KEYS = (
    "fid", "fid_ci_low", "fid_ci_high", "kid", "kid_std", "precision", "recall",
    "density", "coverage", "classes_covered", "num_classes", "class_hist_distance",
    "label_accuracy", "c2st_accuracy", "c2st_fooled", "copying", "n_samples", "reference_n",
    "eval_seconds",
)  # fmt: skip


def in_file_order(metrics: dict[str, Any]) -> dict[str, Any]:
    """`metrics` in METRIC_KEYS order; a key computed but not listed there (or listed but
    not computed) is an error, so a new metric cannot be dropped from the files silently."""
    extra, missing = set(metrics) - set(METRIC_KEYS), set(METRIC_KEYS) - set(metrics)
    if extra or missing:
        raise RuntimeError(
            f"evaluation/scoring.py: Judge._score computed {sorted(extra)} not in METRIC_KEYS "
            f"and missing {sorted(missing)} of it; list every metric in METRIC_KEYS exactly once"
        )
    return {k: metrics[k] for k in METRIC_KEYS}


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
    classifier_sha: str = ""  # of featurizer.pt: keys what the classifier computes once
    _radii: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)

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
        generated samples, whose classes are predicted too (its errors cancel out).

        A pass over the whole split, so it is cached on disk by the classifier's digest.
        """
        name = cache_name(
            "predicted-hist", self.data_hash, self.extractor, classifier=self.classifier_sha
        )
        cached = read_json(self.cache_dir, name) if self.classifier_sha else None
        if isinstance(cached, list) and len(cached) == self.meta["num_classes"]:
            return np.asarray(cached, dtype=np.float64)
        with one_thread():
            predicted = self.classifier.predict(self.train[0])
        hist = class_histogram(predicted, self.meta["num_classes"])
        if self.classifier_sha:
            write_json(self.cache_dir, name, hist.tolist())
        return hist

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

    @cached_property
    def reference_index(self) -> Tensor:
        """Train rows of the k-NN metrics' reference: all when there are at most
        `evaluate.reference_max`, else a subsample seeded by `evaluate.seed` (the same
        for every candidate)."""
        return reference_subsample(len(self.train[0]), self.cfg.reference_max, self.cfg.seed)

    @cached_property
    def reference_features(self) -> Tensor:
        return self.train_features[self.reference_index]

    @cached_property
    def test_distances(self) -> Tensor:
        """Distance of each test feature to its nearest train feature (copying test).

        n_test x N_train distances depend only on the data and the extractor, so they
        are cached on disk next to the features: evaluate reads what featurize computed.
        """
        n = (len(self.train[0]), len(self.test[0]))
        name = cache_name("test-distances", self.data_hash, self.extractor, n=list(n))
        cached = read_array(self.cache_dir, name)
        if cached is not None and cached.shape == (n[1],):
            return torch.from_numpy(cached)
        with one_thread():
            d = nearest_distances(self.test_features, self.train_features)[0]
        write_array(self.cache_dir, name, d.numpy())
        return d

    def radii(self, k: int) -> np.ndarray:
        """k-NN radii of the reference features (density/coverage), computed once per k."""
        if k not in self._radii:
            self._radii[k] = knn_radii(self.reference_features.numpy(), k)
        return self._radii[k]

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
        cfg = self.cfg
        kwargs = self.kwargs(images, seed)
        metrics: dict[str, Any] = fidelity_metrics(kwargs)  # FID, KID: the whole train split
        gen_f, real_f, real_stats = features(kwargs)
        low, high = bootstrap_fid(metrics["fid"], gen_f, real_stats, cfg.bootstrap, seed)
        metrics.update(fid_ci_low=low, fid_ci_high=high)
        ref_f = self.reference_features  # the k-NN metrics: at most reference_max points
        metrics.update(precision_recall(gen_f, ref_f))
        k = nearest_k_for(cfg.nearest_k, len(ref_f), len(gen_f))
        metrics.update(density_coverage(ref_f, gen_f, k, self.radii(k)))
        predicted = self.classifier.predict(images)
        metrics.update(class_metrics(predicted, self.predicted_hist, cfg.class_min_fraction))
        metrics["label_accuracy"] = label_accuracy(predicted, requested)
        two_sample, p_real = c2st(ref_f, gen_f, seed, cfg.c2st_hidden, cfg.c2st_max_iter)
        metrics.update(two_sample)
        metrics["copying"] = copying_statistic(
            real_f, self.test_features, gen_f, seed, None, cfg.reference_max, self.test_distances
        )
        metrics.update(n_samples=len(images), reference_n=len(ref_f))
        metrics["eval_seconds"] = time.perf_counter() - start
        return Scored(in_file_order(metrics), p_real, gen_f)

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
    fdir = Path(featurizer_dir)
    classifier, state = load_featurizer(fdir)
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
        classifier_sha=file_sha256(weights_path(fdir) if fdir.is_dir() else fdir),
    )
