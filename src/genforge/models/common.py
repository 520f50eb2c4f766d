"""Small helpers every family shares: label checks, the sampling context, the Gaussian KL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


def check_labels(y: Tensor, num_classes: int) -> None:
    """Raise a ValueError naming the culprit when training labels are out of range."""
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"labels must be in [0, {num_classes - 1}], got min {int(y.min())}, max {int(y.max())}"
        )


@contextmanager
def sampling(module: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for the duration; the previous train/eval mode is restored."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample in nats (Kingma & Welling 2013, app. B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)  # (B,)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = mu + sigma * eps, the reparameterisation trick (arXiv 1312.6114 eq. 10)."""
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def r1_penalty(real_logit: Tensor, real: Tensor) -> Tensor:
    """R1 = E ||grad_x D(x)||^2 on reals (Mescheder et al. 2018, arXiv 1801.04406 eq. 9)."""
    (grad,) = torch.autograd.grad(real_logit.sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()


def default_missing_buffers(module: nn.Module, state_dict: dict, prefix: str) -> None:
    """Fill `state_dict` with `module`'s own current buffers where it lacks them: for a
    `_load_from_state_dict` that loads checkpoints written before those buffers existed
    (an R1 update count, an augmentation probability) with their initial values."""
    for name, buf in module.named_buffers(recurse=False):
        state_dict.setdefault(prefix + name, buf)
