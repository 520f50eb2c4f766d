"""Score a translation model: FID/KID both ways, cycle error, content preservation, baselines.

Each domain gets its own domain featurizer (`evaluation.featurizer.fit`, the same
DomainNet as the `featurizer` stage, on that domain's train split): the features of
domain B judge G(A) and the classifier head of B says which class each G(a) shows.
FID and KID are torch-fidelity's (`evaluation.fidelity`), with the real train split
of the target domain named by a cache key holding its data hash (`evaluation.cache`).

Per direction (a2b: G on A's test split, judged in domain B; b2a: F on B's):

| key | what |
| --- | --- |
| fid, kid, kid_std | the translations against the target train split |
| content_preservation | share of translations the target classifier assigns the source class |
| identity_fid, identity_kid, identity_content_preservation | the untranslated test images, same judge |
| floor_fid, floor_kid | the target's real test split against its train split |
| fid_vs_identity | fid / identity_fid (the issue's bar: <= 0.5) |
| cycle_error | mean abs(F(G(a)) - a) on the source test split, pixels scaled to [0, 1] |
| target_classifier_accuracy | the target classifier's accuracy on the target test split |

Content preservation needs labelled domains with the same class names (else None).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genforge.config import FeaturizerConfig
from genforge.data.atomic import atomic_file
from genforge.evaluation.cache import cache_name
from genforge.evaluation.extractor import DOMAIN, Extractor
from genforge.evaluation.featurizer import (
    DomainNet,
    accuracy,
    featurizer_state,
    file_sha256,
    fit,
    load_featurizer,
    objective_for,
    one_thread,
)
from genforge.evaluation.fidelity import fidelity_kwargs, fidelity_metrics
from genforge.layout import FEATURIZER_WEIGHTS
from genforge.translation.cyclegan import CycleGan
from genforge.translation.domains import Domains
from genforge.translation.train import nchw

DIRECTIONS = {"a2b": ("A", "B"), "b2a": ("B", "A")}  # direction -> (source, target)


def fit_domain_featurizer(
    cfg: FeaturizerConfig, domains: Domains, domain: str, out_dir: Path
) -> tuple[DomainNet, Extractor]:
    """The featurizer of one domain, trained on its train split and saved as
    ``out_dir/<domain>/featurizer.pt`` in the `featurizer` stage's format; one already
    there for the same data and settings is reused instead."""
    path = Path(out_dir) / domain / FEATURIZER_WEIGHTS
    data_hash = domains.data_hash(domain)
    settings = cfg.model_dump(mode="json")
    if path.is_file():
        net, state = load_featurizer(path)
        if state.get("data_hash") == data_hash and state.get("settings") == settings:
            return net, Extractor(DOMAIN, str(path), file_sha256(path), rgb=False)
    train = domains.split(domain, "train")
    x, y = nchw(domains, domain), torch.from_numpy(train.y)
    objective = objective_for(cfg, len(train.class_names))
    with one_thread():
        net = fit(cfg, x, y, len(train.class_names), objective)
    # plus the settings, so a rerun can tell whether this file is still the one it wants
    state = featurizer_state(
        net, objective, tuple(x.shape[1:]), data_hash, train.class_names, settings=settings
    )
    with atomic_file(path) as tmp:
        torch.save(state, tmp)
    return net, Extractor(DOMAIN, str(path), file_sha256(path), rgb=False)


def _fidelity(
    images: Tensor,
    target_train: Tensor,
    extractor: Extractor,
    real_name: str,
    cache_dir: Path,
    seed: int,
) -> dict[str, float]:
    kwargs = fidelity_kwargs(
        images, target_train, extractor, real_name, cache_dir, seed, batch_size=500
    )
    return fidelity_metrics(kwargs)


def _share_of_class(net: DomainNet, images: Tensor, labels: Tensor) -> float:
    return round(float((net.predict(images) == labels).float().mean()), 5)


def evaluate_translation(
    model: CycleGan,
    domains: Domains,
    featurizer_cfg: FeaturizerConfig,
    featurizer_dir: Path,
    cache_dir: Path,
    seed: int = 0,
) -> dict[str, Any]:
    """The translation table (module docstring) as a JSON-ready dict, one entry per direction.

    Args:
        model: the trained CycleGan.
        domains: the two domains it was trained on (the test splits are translated).
        featurizer_cfg: how each domain's featurizer is trained (the `featurizer` section).
        featurizer_dir: where the per-domain featurizers are kept (reused when current).
        cache_dir: torch-fidelity's cache of the real statistics.
        seed: KID subset draws.
    """
    labelled = domains.labelled()
    judges = {d: fit_domain_featurizer(featurizer_cfg, domains, d, featurizer_dir) for d in "AB"}
    table: dict[str, Any] = {"labelled": labelled}
    with one_thread():
        for direction, (src, dst) in DIRECTIONS.items():
            net, extractor = judges[dst]
            source, labels = (
                nchw(domains, src, "test"),
                torch.from_numpy(domains.split(src, "test").y),
            )
            target_train, target_test = nchw(domains, dst), nchw(domains, dst, "test")
            real_name = cache_name(
                f"translation-train{dst}", domains.data_hash(dst), extractor,
                image_shape=list(target_train.shape[1:]), n=len(target_train),
            )  # fmt: skip
            translated = model.translate(source, direction)
            back = model.translate(translated, "b2a" if direction == "a2b" else "a2b")
            row = _fidelity(translated, target_train, extractor, real_name, cache_dir, seed)
            identity = _fidelity(source, target_train, extractor, real_name, cache_dir, seed)
            floor = _fidelity(target_test, target_train, extractor, real_name, cache_dir, seed)
            row.update({f"identity_{k}": v for k, v in identity.items() if k != "kid_std"})
            row.update({f"floor_{k}": v for k, v in floor.items() if k != "kid_std"})
            row["fid_vs_identity"] = row["fid"] / max(row["identity_fid"], 1e-12)
            row["cycle_error"] = float((back.float() - source.float()).abs().mean() / 255.0)
            row["content_preservation"] = (
                _share_of_class(net, translated, labels) if labelled else None
            )
            row["identity_content_preservation"] = (
                _share_of_class(net, source, labels) if labelled else None
            )
            target_labels = torch.from_numpy(domains.split(dst, "test").y)
            row["target_classifier_accuracy"] = (
                round(accuracy(net, target_test, target_labels), 5) if labelled else None
            )
            row["n_source"], row["n_reference"] = len(source), len(target_train)
            table[direction] = row
    return table
