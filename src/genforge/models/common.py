"""Small helpers the families share: label checks, the sampling context, the Gaussian KL,
R1 and the lazy-R1 schedule of the gan and vaegan discriminators."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from genforge.sections import NonNegFloat, PosInt, Section


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


class DiscriminatorConfig(Section):
    """D's regularisers in a params section (gan, vaegan)."""

    minibatch_std: bool = False  # D sees the batch's spread (ProGAN sec. 3)
    r1_gamma: NonNegFloat = 0.0  # R1 weight (Mescheder et al. 2018); 0 = off
    r1_every: PosInt = 16  # lazy R1: every r1_every D updates (StyleGAN2 sec. 3.1)


class LazyR1:
    """Lazy R1 for a family whose config is a DiscriminatorConfig (gan, vaegan): the penalty
    every `r1_every` D updates, counted in a `d_updates` buffer so that the schedule
    survives a checkpoint; a checkpoint from before the buffer loads with the count at 0.
    Mixed in before GenerativeModel; `init_lazy_r1` registers the buffer."""

    def init_lazy_r1(self) -> None:
        self.register_buffer("d_updates", torch.zeros((), dtype=torch.long))

    def r1_due(self) -> bool:
        return self.cfg.r1_gamma > 0 and int(self.d_updates) % self.cfg.r1_every == 0

    def step_d(self, opt, loss_d: Tensor, real_logit: Tensor, real: Tensor, reg: bool) -> None:
        """One D update on `loss_d`, plus gamma/2 * R1 times the interval when `reg`
        (`real` then requires grad): the lazy penalty weighs as one every update would."""
        if reg:
            r1 = r1_penalty(real_logit, real) * (self.cfg.r1_gamma / 2) * self.cfg.r1_every
            loss_d = loss_d + r1
        opt.step("d", loss_d)
        self.d_updates += 1

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        default_missing_buffers(self, state_dict, prefix)  # no d_updates before R1 existed
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
