"""DDP plumbing for `torchrun`: process group set-up, gradient and buffer sync.

Families step several networks in their own order (a GAN steps D, then G), so
instead of wrapping each network in DistributedDataParallel the trainer averages
gradients with one flat all-reduce per optimizer step and broadcasts buffers from
rank 0 after each step — the scheme StyleGAN3's training loop uses
(https://github.com/NVlabs/stylegan3/blob/main/training/training_loop.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from genforge.models.base import Optimizers


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group when started by `torchrun` (RANK/WORLD_SIZE set); else single."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def all_reduce_grads(params: list[nn.Parameter], world_size: int) -> None:
    """Average the gradients of `params` across ranks (missing grads count as zero)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def sync_module(module: nn.Module, world_size: int) -> None:
    """Broadcast parameters and buffers from rank 0 (start of training; buffers each step)."""
    if world_size <= 1:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def sync_buffers(module: nn.Module, world_size: int) -> None:
    """Broadcast buffers (e.g. BatchNorm running stats) from rank 0, as DDP does."""
    if world_size <= 1:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)


def gather_rng_states(world_size: int, cuda: bool) -> list[dict[str, Any]]:
    """Every rank's RNG state, by rank (empty for one process); a collective call.

    Each rank draws its own noise (seeded `seed + 1 + rank`), so a resumed DDP run
    equals an uninterrupted one only when every rank gets its own state back.
    """
    if world_size <= 1:
        return []
    own = {
        "torch": torch.get_rng_state(),
        "cuda": [torch.cuda.get_rng_state().cpu()] if cuda else [],  # this rank's GPU
    }
    states: list[Any] = [None] * world_size
    dist.all_gather_object(states, own)
    return states


def barrier(world_size: int) -> None:
    if world_size > 1:
        dist.barrier()


class SyncedOptimizers(Optimizers):
    """`Optimizers` whose gradients are averaged across `world_size` DDP ranks.

    Gradient averaging as in StyleGAN3's training loop: one flat all-reduce per
    update, which suits families with several networks stepped in a custom order
    better than wrapping each one in DDP.
    """

    def __init__(
        self, optimizers: dict[str, torch.optim.Optimizer], grad_clip: float, world_size: int
    ):
        super().__init__(optimizers, grad_clip)
        self.world_size = world_size

    def _sync(self, params: list[nn.Parameter]) -> None:
        if self.world_size > 1:
            all_reduce_grads(params, self.world_size)
