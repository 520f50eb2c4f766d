"""Sampling a model for scoring, shared by the evaluation (evaluate.py) and the FID
curve over training snapshots (curve.py), so neither imports the other."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from genforge.errors import GenforgeError

if TYPE_CHECKING:
    from genforge.evaluation.scoring import Judge


class EvaluationError(GenforgeError):
    """A model that does not fit the prepared data, or was trained on other data."""


def sample_images(
    model, n: int, labels: Tensor | None, seed: int, batch_size: int, sample_kwargs: dict
) -> tuple[Tensor, float]:
    """`n` uint8 images in batches from one seeded CPU generator; returns (images, seconds)."""
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    out = []
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, n, batch_size):
            m = min(batch_size, n - i)
            y = None if labels is None else labels[i : i + m]
            out.append(model.sample(m, labels=y, generator=gen, **sample_kwargs).cpu())
    seconds = time.perf_counter() - start
    model.train(was_training)
    return torch.cat(out), seconds


def check_fits(model, judge: Judge) -> None:
    want = tuple(judge.train[0].shape[1:])
    if tuple(model.image_shape) != want or model.num_classes != judge.meta["num_classes"]:
        raise EvaluationError(
            f"the model makes {tuple(model.image_shape)} images of {model.num_classes} classes, "
            f"the prepared data has {want} and {judge.meta['num_classes']}; retrain it"
        )
