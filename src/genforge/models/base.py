"""The one interface every model family implements.

A family is an `nn.Module` built from its own params section, the image shape and
the number of classes. It owns its optimizers and their update order (a GAN steps D
then G); the trainer owns everything generic — devices, autocast, gradient
clipping, gradient sync across DDP ranks, EMA, checkpoints — and passes an
`Optimizers` handle into `training_step` so the family never re-implements those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal, NamedTuple

import torch
from torch import Tensor, nn

from genforge.sections import PosFloat, PosInt, Section


class FamilyConfig(Section):
    """Fields every family's params section has; each family adds its own knobs."""

    conditional: bool = False
    steps: PosInt = 2000
    batch_size: PosInt = 64
    lr: PosFloat = 2e-4
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: to 0 over `steps`


class Optimizers:
    """Named optimizers plus the generic update: zero grad, backward, clip, step.

    What a family's `training_step` is handed. The trainer hands it a subclass
    (training.distributed.SyncedOptimizers) that also averages gradients across DDP
    ranks through the `_sync` hook, so this module needs nothing from training/.

    Args:
        optimizers: name -> optimizer, as returned by `configure_optimizers`.
        grad_clip: max global grad norm per optimizer step (0 disables clipping).
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], grad_clip: float = 0.0):
        self.optimizers = optimizers
        self.grad_clip = grad_clip

    def __getitem__(self, name: str) -> torch.optim.Optimizer:
        return self.optimizers[name]

    def _sync(self, params: list[nn.Parameter]) -> None:
        """Between backward and clipping: nothing on one process."""

    def step(self, name: str, loss: Tensor) -> None:
        """Backpropagate `loss` into the parameters of optimizer `name` and update them."""
        opt = self.optimizers[name]
        params = [p for g in opt.param_groups for p in g["params"]]
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=params)
        self._sync(params)
        if self.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        opt.step()

    def state_dict(self) -> dict:
        return {k: o.state_dict() for k, o in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, o in self.optimizers.items():
            o.load_state_dict(state[k])


class Denoiser(NamedTuple):
    """What inpainting (RePaint) needs of a denoising model: the Gaussian process (its
    `step`, `q_sample`, `alpha_bar`), eps(x_t, t) as `sample` uses it (guided when
    configured) and the timesteps its default sampler visits, first (noisiest) first."""

    process: Any
    eps: Any
    timesteps: list[int]


class GenerativeModel(nn.Module, ABC):
    """Base class of every family.

    Args:
        cfg: the family's params section (e.g. `GanConfig`).
        image_shape: (C, H, W) of the prepared images.
        num_classes: number of labels in the prepared data (used when conditional).

    Conventions: `training_step` gets images as float in [-1, 1], shape (B, C, H, W),
    and int64 labels (B,). `sample` returns uint8 (N, C, H, W) on the CPU; random
    draws use `generator` on the CPU and are then moved to the model's device, so
    the same seed gives the same images on any device.
    """

    family: ClassVar[str]  # the family's name: its package models/<family>/ and params key
    config_class: ClassVar[type[FamilyConfig]]  # its params section, models.<family>
    # The family contract test (tests/models/test_contract.py) runs every registered
    # family from these: tiny, fast settings (high learning rates so the conditional
    # check learns in few steps) and the updates that check needs.
    tiny: ClassVar[dict]
    contract_steps: ClassVar[int]
    # The logged loss whose spread the report calls training stability (None: the first).
    main_loss: ClassVar[str | None] = None

    def __init__(self, cfg: FamilyConfig, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        if cfg.conditional and num_classes < 1:
            raise ValueError(
                f"{type(self).__name__}: conditional: true needs labelled data "
                f"(num_classes >= 1), got num_classes={num_classes}"
            )
        self.cfg = cfg
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def compilable_children(self) -> list[nn.Module]:
        """The networks `train.compile` compiles: every child but those the R1 penalty
        differentiates twice, the discriminator and the augmentation before it (torch.compile's
        AOT autograd has no double backward)."""
        twice = {"discriminator", "augment"} if getattr(self.cfg, "r1_gamma", 0) > 0 else set()
        return [c for n, c in self.named_children() if n not in twice]

    @abstractmethod
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Create this family's optimizers, by name."""

    @abstractmethod
    def training_step(self, x: Tensor, y: Tensor, opt: Optimizers) -> dict[str, float]:
        """One update on a batch; call `opt.step(name, loss)` per optimizer; return losses."""

    @abstractmethod
    def sample(
        self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Draw `n` images as uint8 (n, C, H, W); conditional families honour `labels`."""

    def bits_per_dim(self, x: Tensor, y: Tensor) -> float | None:
        """Negative log-likelihood (or its ELBO bound) in bits/dim; None without a likelihood."""
        return None

    def generator_parameters(self) -> int:
        """Parameters needed at sampling time (e.g. G without D); defaults to all."""
        return sum(p.numel() for p in self.parameters())

    # ---------------------------------------------------- optional capabilities
    # A family states what it can do by overriding these; the report and the page ask
    # `offers(...)` instead of checking family names.
    @classmethod
    def offers(cls, capability: str) -> bool:
        """Whether this family implements `capability` ("decode_latent", "encode",
        "denoiser", "truncation", "style_mix")."""
        return getattr(cls, capability) is not getattr(GenerativeModel, capability)

    @property
    def latent_dim(self) -> int | None:
        """Size of the Gaussian latent z ~ N(0, I) that `decode_latent` maps to images."""
        return None

    def decode_latent(self, z: Tensor, labels: Tensor | None) -> Tensor:
        """z (B, latent_dim) -> images in [-1, 1], (B, C, H, W): what `sample` does to z."""
        raise NotImplementedError(f"{self.family} has no latent space")

    def encode(self, x: Tensor, labels: Tensor | None) -> Tensor:
        """Images in [-1, 1] (B, C, H, W) -> their latents (B, latent_dim), e.g. the posterior mean."""
        raise NotImplementedError(f"{self.family} has no encoder")

    def denoiser(self, labels: Tensor | None) -> Denoiser:
        """The noise predictor and process behind `sample`, for inpainting (RePaint)."""
        raise NotImplementedError(f"{self.family} has no denoiser")

    def truncation(self, psi: float) -> dict[str, Any]:
        """The keyword arguments of `sample` that pull the latent towards its average by
        `psi` (1 = none): the truncation trick (Karras et al. 2019, arXiv 1812.04948),
        which the report's fidelity/diversity trade-off and the page's psi use."""
        raise NotImplementedError(f"{self.family} has no truncation")

    @property
    def num_ws(self) -> int | None:
        """How many per-layer styles `style_mix` can take from two latents."""
        return None

    def style_mix(
        self, z_coarse: Tensor, z_fine: Tensor, crossover: int, labels: Tensor | None = None
    ) -> Tensor:
        """uint8 images whose styles [0, crossover) come from z_coarse, the rest from z_fine."""
        raise NotImplementedError(f"{self.family} has no per-layer styles")

    # ---------------------------------------------------------------- helpers
    def default_labels(self, n: int, labels: Tensor | None) -> Tensor | None:
        """Labels for sampling: the given ones, else classes in turn (0, 1, ..., K-1, 0, ...)."""
        if not self.cfg.conditional:
            return None
        if labels is None:
            return torch.arange(n, device=self.device) % self.num_classes
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f"labels must be in [0, {self.num_classes - 1}], got {labels.tolist()}"
            )
        return labels.to(self.device)

    def randn(self, *shape: int, generator: torch.Generator | None = None) -> Tensor:
        """Standard normal noise drawn on the CPU (seed-stable across devices), moved to ours."""
        return torch.randn(*shape, generator=generator).to(self.device)


def signed_to_uint8(x: Tensor) -> Tensor:
    """Map images in [-1, 1] to uint8 [0, 255] on the CPU."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
