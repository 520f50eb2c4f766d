"""One generic training loop for every family.

The trainer knows nothing about losses or networks: it feeds batches to
`model.training_step`, and owns devices, bf16 autocast, channels_last,
`torch.compile`, EMA, gradient clipping and DDP sync (through `SyncedOptimizers`),
checkpoints and resume, NaN stops, progress and the JSON-lines step log.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.optim.swa_utils import AveragedModel

from genforge.config import TrainConfig
from genforge.data.atomic import write_text_atomic
from genforge.errors import GenforgeError
from genforge.grids import grid_samples
from genforge.layout import CHECKPOINT, STEP_LOG
from genforge.models import GenerativeModel
from genforge.training.checkpoint import load_checkpoint, save_checkpoint
from genforge.training.distributed import (
    DistInfo,
    SyncedOptimizers,
    gather_rng_states,
    sync_buffers,
    sync_module,
)
from genforge.training.progress import Progress


class TrainingDiverged(GenforgeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Callback(Protocol):
    """Hooks for loggers (MLflow) that must not touch the loop. All are optional."""

    def on_step(self, step: int, record: dict[str, float]) -> None: ...
    def on_samples(self, step: int, images: torch.Tensor) -> None: ...
    def on_end(self, summary: dict[str, Any]) -> None: ...
    def on_model(self, step: int, ema_model: GenerativeModel) -> None: ...


@dataclass
class TrainState:
    step: int = 0
    seconds: float = 0.0  # training wall time accumulated over resumes


def pick_device(choice: str) -> torch.device:
    """`auto` means CUDA when available, else CPU; asking for CUDA without one is an error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    seed: int,
    start_step: int,
    dist_info: DistInfo,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless seeded batches; batch k depends only on (seed, k), so resume is exact.

    Each epoch is a permutation drawn from `seed + epoch`; under DDP every rank takes
    its own slice of each global batch of `batch_size * world_size` images.
    """
    n, world = x.shape[0], dist_info.world_size
    global_bs = batch_size * world
    if n < global_bs:
        raise ValueError(
            f"{n} training images cannot fill one batch of {global_bs}; "
            "lower the family's batch_size"
        )
    per_epoch = n // global_bs  # drop the ragged end, as DataLoader(drop_last=True)
    step = start_step
    while True:
        epoch, k = divmod(step, per_epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        idx = perm[k * global_bs : (k + 1) * global_bs][dist_info.rank :: world]
        yield x[idx], y[idx]
        step += 1


def ema_with_warmup(decay: float):
    """A `multi_avg_fn` for AveragedModel: EMA whose decay ramps up as min(decay, (1+n)/(10+n)).

    With a fixed decay of 0.999, a 1,000-step run would still keep 0.999**1000 = 37 %
    of its random initial weights in the EMA, and its samples are noise; the ramp
    (as in TensorFlow's ExponentialMovingAverage with num_updates) forgets the
    initialisation early and reaches `decay` after a few thousand updates.
    """

    def update(ema_params, params, num_averaged):
        if not torch.is_floating_point(ema_params[0]):  # e.g. BatchNorm's step counter
            torch._foreach_copy_(ema_params, params)
            return
        n = float(num_averaged)
        d = min(decay, (1 + n) / (10 + n))
        torch._foreach_lerp_(ema_params, params, 1 - d)

    return update


def lr_schedulers(
    optimizers: dict[str, torch.optim.Optimizer], schedule: str, steps: int
) -> list[CosineAnnealingLR]:
    """One schedule per optimizer, stepped once per training step (a family's lr_schedule)."""
    if schedule == "constant":
        return []
    return [CosineAnnealingLR(o, T_max=steps) for o in optimizers.values()]


def _log_step(line: str) -> int | None:
    """The step of one train_log.jsonl line, or None when the line is not a whole record."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    step = record.get("step") if isinstance(record, dict) else None
    return step if isinstance(step, int) else None


def nonfinite(module: torch.nn.Module) -> list[str]:
    """Names of the floating-point tensors of `module` that hold an inf or a NaN."""
    return [
        key
        for key, t in module.state_dict().items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over the weights in key order: equal digests mean identical models."""
    h = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class Trainer:
    """Train `model` for `steps` updates, checkpointing into `out_dir`.

    Args:
        model: a family instance, already seeded and built.
        cfg: the `train` params section.
        steps, batch_size: the family's own budget.
        out_dir: where checkpoint.pt and train_log.jsonl live.
        meta: extra entries stored in the checkpoint (family, model args, fingerprint).
        callbacks: objects with any of on_step / on_samples / on_end.
    """

    def __init__(
        self,
        model: GenerativeModel,
        cfg: TrainConfig,
        steps: int,
        batch_size: int,
        out_dir: Path,
        meta: dict[str, Any],
        callbacks: list[Any] | None = None,
        dist_info: DistInfo | None = None,
        progress: bool = True,
    ):
        self.cfg, self.steps, self.batch_size = cfg, steps, batch_size
        self.out_dir, self.meta = Path(out_dir), meta
        self.callbacks = callbacks or []
        self.dist = dist_info or DistInfo()
        self.progress = progress and self.dist.is_main
        self.device = pick_device(cfg.device)
        self.cuda = self.device.type == "cuda"
        self.model = model.to(self.device)
        if self.cuda and cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        sync_module(self.model, self.dist.world_size)
        # EMA with torch's own AveragedModel; sampling always uses the EMA copy.
        self.ema = AveragedModel(
            self.model, multi_avg_fn=ema_with_warmup(cfg.ema_decay), use_buffers=True
        )
        self.opt = SyncedOptimizers(
            self.model.configure_optimizers(), cfg.grad_clip, self.dist.world_size
        )
        self.schedulers = lr_schedulers(self.opt.optimizers, model.cfg.lr_schedule, steps)
        if cfg.compile:
            for child in self.model.compilable_children():
                child.compile()  # in place: state_dict keys stay unchanged
        self.state = TrainState()

    # ------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT

    def save(self) -> None:
        ranks = gather_rng_states(self.dist.world_size, self.cuda)  # every rank takes part
        if not self.dist.is_main:
            return
        save_checkpoint(
            {
                **self.meta,
                "step": self.state.step,
                "seconds": self.state.seconds,
                "model": self.model.state_dict(),
                "ema": self.ema.module.state_dict(),
                "ema_n_averaged": self.ema.n_averaged,
                "optimizers": self.opt.state_dict(),
                "schedulers": [s.state_dict() for s in self.schedulers],
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.cuda else [],
                },
                "rng_ranks": ranks,  # DDP: each rank's own noise stream
            },
            self.checkpoint_path,
        )

    def try_resume(self) -> bool:
        """Resume from out_dir's checkpoint when it belongs to this exact run (same fingerprint)."""
        if not self.checkpoint_path.is_file():
            return False
        state = load_checkpoint(self.checkpoint_path, self.device)
        if state.get("fingerprint") != self.meta.get("fingerprint"):
            return False  # params or data changed: start over
        self.model.load_state_dict(state["model"])
        self.ema.module.load_state_dict(state["ema"])
        self.ema.n_averaged.copy_(state["ema_n_averaged"])
        self.opt.load_state_dict(state["optimizers"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
        ranks = state.get("rng_ranks") or []
        if self.dist.world_size > 1 and len(ranks) == self.dist.world_size:
            own = ranks[self.dist.rank]
            torch.set_rng_state(own["torch"].cpu())
            if self.cuda and own["cuda"]:
                torch.cuda.set_rng_state(own["cuda"][0].cpu())
        else:
            torch.set_rng_state(state["rng"]["torch"].cpu())
            if self.cuda and state["rng"]["cuda"]:
                torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        self.state.step, self.state.seconds = state["step"], state["seconds"]
        if self.dist.is_main:  # the one writer of the log: two ranks renaming it raced
            self._truncate_log(self.state.step)
        return True

    def _truncate_log(self, step: int) -> None:
        """Keep the log records up to the checkpoint's step. A torn or garbled line (power
        loss or a full disk mid-write) is dropped, not fatal: the checkpoint is the truth."""
        log = self.out_dir / STEP_LOG
        if not log.is_file():
            return
        lines = log.read_text(errors="replace").splitlines()
        kept = [ln for ln in lines if (s := _log_step(ln)) is not None and s <= step]
        write_text_atomic(log, "".join(ln + "\n" for ln in kept))

    # ------------------------------------------------------------------- loop
    def fit(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        """Train on images `x` (uint8 NCHW) and labels `y`; return a summary dict."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        resumed_from = self.state.step
        family = self.meta.get("family", self.model.family)
        xs = (x.float() / 127.5 - 1).to(self.device)  # (N, C, H, W) in [-1, 1]
        ys = y.long().to(self.device)
        amp = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if self.cuda and self.cfg.amp
            else nullcontext()
        )
        data = batches(xs, ys, self.batch_size, self.cfg.seed, self.state.step, self.dist)
        bar = Progress(family, self.steps, self.state.step, enabled=self.progress)
        log = (self.out_dir / STEP_LOG).open("a") if self.dist.is_main else None
        window_t, window_n = time.perf_counter(), 0
        try:
            while self.state.step < self.steps:
                t0 = time.perf_counter()
                xb, yb = next(data)
                if self.cuda and self.cfg.channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with amp:
                    losses = self.model.training_step(xb, yb, self.opt)
                bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
                if bad:
                    raise TrainingDiverged(
                        f"{family}: loss {', '.join(f'{k}={v}' for k, v in bad.items())} at step "
                        f"{self.state.step + 1}; the last good checkpoint is kept in "
                        f"{self.checkpoint_path}"
                    )
                sync_buffers(self.model, self.dist.world_size)
                self.ema.update_parameters(self.model)
                for scheduler in self.schedulers:
                    scheduler.step()
                self.state.step += 1
                self.state.seconds += time.perf_counter() - t0
                window_n += xb.shape[0] * self.dist.world_size
                step, record = self.state.step, None
                if step % self.cfg.log_every == 0 or step == self.steps:
                    now = time.perf_counter()
                    record = {
                        "step": step,
                        **losses,
                        "images_per_s": window_n / max(now - window_t, 1e-9),
                    }
                    window_t, window_n = now, 0
                    if log:
                        log.write(json.dumps(record) + "\n")
                        log.flush()
                    self._call("on_step", step, record)
                saving = step % self.cfg.checkpoint_every == 0 or step == self.steps
                if saving or step % self.cfg.sample_every == 0:
                    self._check_finite(family)  # before anything saves or samples the weights
                wants_samples = any(hasattr(cb, "on_samples") for cb in self.callbacks)
                if wants_samples and step % self.cfg.sample_every == 0 and step < self.steps:
                    self._call("on_samples", step, self.sample_grid())
                if step % self.cfg.sample_every == 0 or step == self.steps:
                    # e.g. FID against training step; the EMA model is what gets sampled
                    self._call("on_model", step, self.ema.module)
                if saving:
                    self.save()
                bar.update(step, record)
        finally:
            bar.close()
            if log:
                log.close()
        summary = {
            "family": family,
            "steps": self.steps,
            "resumed_from": resumed_from,
            "train_seconds": round(self.state.seconds, 3),
            "images_per_s": round(
                self.steps * self.batch_size * self.dist.world_size / max(self.state.seconds, 1e-9),
                1,
            ),
            "device": self.device.type,
            "world_size": self.dist.world_size,
            "weights_sha256": weights_digest(self.model),
        }
        self._call("on_end", summary)
        return summary

    def _check_finite(self, family: str) -> None:
        """Refuse weights an update made inf/NaN although its loss (computed before the
        update) was finite: saved as "last good", every rerun would resume from them."""
        bad = [f"model.{k}" for k in nonfinite(self.model)]
        bad += [f"ema.{k}" for k in nonfinite(self.ema.module)]
        if bad:
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            raise TrainingDiverged(
                f"{family}: non-finite weights after step {self.state.step} "
                f"({', '.join(bad[:3])}{more}) although the loss was finite; the last good "
                f"checkpoint is kept in {self.checkpoint_path} (lower the lr or set grad_clip)"
            )

    def sample_grid(self, seed: int = 0) -> torch.Tensor:
        """A fixed-seed grid of EMA samples (uint8 NCHW); see `genforge.grids.grid_samples`."""
        return grid_samples(self.ema.module, seed)

    def _call(self, hook: str, *args: Any) -> None:
        if not self.dist.is_main:
            return
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(*args)
