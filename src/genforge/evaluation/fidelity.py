"""FID, KID and precision/recall through torch-fidelity; a bootstrap interval for FID.

Nothing here re-implements a metric: `torch_fidelity.calculate_metrics` computes
FID (Heusel et al. 2017), KID (Binkowski et al. 2018) and precision/recall
(Kynkäänniemi et al. 2019) with the extractor chosen in extractor.py; the real set
is named by a cache key (cache.py), so its features and FID statistics are computed
once per data version and then read from ``cache_dir``. The same torch-fidelity
helpers give the features the other metrics use and the statistics the bootstrap
resamples.

Precision/recall is a k-NN metric (N^2 in the real set), so it is computed on the
reference subsample (`evaluate.reference_max`, see diversity.reference_subsample) by
torch-fidelity's own `prc_features_to_metric`, in its low-memory mode with blocks of
PRC_BATCH rows (at most PRC_BATCH x reference_max float32 at once; its default block of
10,000 would hold 10k x N). FID and KID stay on the whole train split: torch-fidelity
streams its features into the cached statistics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_fidelity import (
    KEY_METRIC_FID,
    KEY_METRIC_KID_MEAN,
    KEY_METRIC_KID_STD,
    KEY_METRIC_PRECISION,
    KEY_METRIC_RECALL,
    calculate_metrics,
)
from torch_fidelity.metric_fid import (
    fid_featuresdict_to_statistics_cached,
    fid_statistics_to_metric,
)
from torch_fidelity.metric_prc import prc_features_to_metric
from torch_fidelity.utils import (
    create_feature_extractor,
    extract_featuresdict_from_input_id_cached,
    resolve_feature_layer_for_metric,
)

from genforge.evaluation.extractor import Extractor

KID_SUBSETS = 100  # torch-fidelity's default
PRC_BATCH = 2048  # rows per distance block of precision/recall: 2048 x 10k float32 = 80 MB


def fidelity_kwargs(
    generated: Tensor,
    real: Tensor,
    extractor: Extractor,
    real_name: str,
    cache_dir: Path,
    seed: int,
    batch_size: int,
    kid_subset_size: int = 1000,
) -> dict[str, Any]:
    """torch-fidelity keyword arguments: input1 = generated, input2 = the cached real set.

    Workers stay off (the images are already in memory) and the device is CUDA only
    when present. KID subsets are clipped to the smaller set.
    """
    return {
        "input1": extractor.dataset(generated),
        "input2": extractor.dataset(real),
        "input2_cache_name": real_name,
        "cache_root": str(cache_dir),
        "cache": True,
        **extractor.kwargs(),
        "cuda": torch.cuda.is_available(),
        "batch_size": batch_size,
        "kid_subsets": KID_SUBSETS,
        "kid_subset_size": min(kid_subset_size, len(generated), len(real)),
        "rng_seed": seed,
        "save_cpu_ram": True,  # no DataLoader worker processes
        "verbose": False,
    }


def fidelity_metrics(kwargs: dict[str, Any]) -> dict[str, float]:
    """FID and KID (mean and std over subsets) of input1 against the whole of input2."""
    m = calculate_metrics(fid=True, kid=True, **kwargs)
    return {
        "fid": float(m[KEY_METRIC_FID]),
        "kid": float(m[KEY_METRIC_KID_MEAN]),
        "kid_std": float(m[KEY_METRIC_KID_STD]),
    }


def precision_recall(generated: Tensor, real: Tensor) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, torch-fidelity's k = 3)
    of generated against real features (N, D), in blocks of PRC_BATCH rows."""
    m = prc_features_to_metric(
        generated, real, prc_batch_size=PRC_BATCH, save_cpu_ram=True, verbose=False
    )
    return {"precision": float(m[KEY_METRIC_PRECISION]), "recall": float(m[KEY_METRIC_RECALL])}


def fid_only(kwargs: dict[str, Any]) -> float:
    """FID alone: the real statistics come straight from the cache (cheap; for curves)."""
    return float(calculate_metrics(fid=True, **kwargs)[KEY_METRIC_FID])


def features(kwargs: dict[str, Any]) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """(generated, real) feature matrices of the FID layer and the real FID statistics.

    The real ones are read from torch-fidelity's cache (written by the first
    `calculate_metrics` on this data), the generated ones are computed.
    """
    layer = resolve_feature_layer_for_metric("fid", **kwargs)
    extractor = create_feature_extractor(kwargs["feature_extractor"], [layer], **kwargs)
    gen = extract_featuresdict_from_input_id_cached(1, extractor, **kwargs)[layer]
    real_dict = extract_featuresdict_from_input_id_cached(2, extractor, **kwargs)
    real_stats = fid_featuresdict_to_statistics_cached(
        real_dict, kwargs["input2_cache_name"], extractor, layer, **kwargs
    )
    return gen.float(), real_dict[layer].float(), real_stats


def input1_features(kwargs: dict[str, Any]) -> Tensor:
    """Features (N, D) of the FID layer for input1 alone, through torch-fidelity's cache
    when ``input1_cache_name`` is given (the train and test splits)."""
    layer = resolve_feature_layer_for_metric("fid", **kwargs)
    extractor = create_feature_extractor(kwargs["feature_extractor"], [layer], **kwargs)
    return extract_featuresdict_from_input_id_cached(1, extractor, **kwargs)[layer].float()


def resampled_statistics(
    features: Tensor, counts: np.ndarray, like: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """FID statistics (mean, covariance) of a bootstrap resample given as per-row counts.

    Same quantities as torch-fidelity's `fid_features_to_statistics` on the resample
    (``np.mean`` and ``np.cov``), computed from the counts in one weighted product.
    """
    x = features.double()
    w = torch.from_numpy(counts).double()
    n = w.sum()
    mu = (w @ x) / n
    xc = x - mu
    sigma = (xc.T * w) @ xc / (n - 1)
    # the dtypes of `like` (torch-fidelity's: float32 mean, float64 covariance)
    return {k: v.numpy().astype(like[k].dtype) for k, v in (("mu", mu), ("sigma", sigma))}


def bootstrap_fid(
    fid: float, gen_features: Tensor, real_stats: dict[str, Any], resamples: int, seed: int
) -> tuple[float | None, float | None]:
    """95 % interval of FID from bootstrap resamples of the generated set.

    The standard bootstrap interval fid +- 1.96 * (std of the resampled FIDs) (Efron &
    Tibshirani 1993, sec. 13.2), lower end clipped at 0. The percentile interval would
    not do: resampling with replacement repeats points, which inflates FID by about
    as much as the spread for good models, so it would lie above the estimate. The
    real statistics stay fixed, as every candidate is compared with the same
    reference. Returns (None, None) when `resamples` is 0.
    """
    if resamples == 0:
        return None, None
    rng = np.random.default_rng(seed)
    n = len(gen_features)
    fids = []
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        stats = resampled_statistics(gen_features, counts, real_stats)
        fids.append(fid_statistics_to_metric(real_stats, stats, verbose=False)[KEY_METRIC_FID])
    half = 1.96 * float(np.std(fids, ddof=1))
    return max(fid - half, 0.0), fid + half
