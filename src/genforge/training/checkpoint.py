"""Checkpoints that carry their own config and load without arbitrary unpickling.

A checkpoint is a plain dict of tensors and primitives saved with `torch.save` to
a temporary file and renamed into place (atomic on POSIX), and read back with
`torch.load(weights_only=True)`, which refuses arbitrary Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from genforge.data.atomic import atomic_file
from genforge.errors import GenforgeError

FORMAT_VERSION = 1
SNAPSHOTS = "snapshots"  # models/<family>/snapshots/step_<N>.pt: EMA weights by step


class CheckpointError(GenforgeError):
    """A checkpoint that is missing, unreadable or of another format."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` atomically: a temporary file in the same folder, then rename."""
    with atomic_file(path) as tmp:
        torch.save({"format_version": FORMAT_VERSION, **state}, tmp)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`; check its format version."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint here (train the family first)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/foreign files
        raise CheckpointError(
            f"{path}: cannot read checkpoint ({exc.__class__.__name__}: {exc})"
        ) from None
    version = state.get("format_version") if isinstance(state, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {version!r}, expected {FORMAT_VERSION}")
    return state


def load_model(path: Path, map_location: str | torch.device = "cpu", ema: bool = True):
    """Rebuild a family from its checkpoint alone (no params file needed).

    Returns the model in eval mode with EMA weights (or raw weights if `ema=False`).
    """
    from genforge.models import build, config_class

    state = load_checkpoint(path, map_location)
    args = state["model_args"]
    family = state["family"]
    cfg = config_class(family).model_validate(args["cfg"])
    model = build(family, cfg, tuple(args["image_shape"]), args["num_classes"])
    weights = state["ema"] if ema else state["model"]
    model.load_state_dict(weights)
    return model.to(map_location).eval()


class EmaSnapshots:
    """Training callback: the EMA weights every `train.sample_every` steps and at the end,
    as `<out_dir>/snapshots/step_<N>.pt` (read by the evaluation's FID-vs-step curve, so
    training needs neither the featurizer nor the evaluation code)."""

    def __init__(self, out_dir: Path, fresh: bool):
        self.dir = Path(out_dir) / SNAPSHOTS
        if fresh:  # not a resumed run: an earlier run's snapshots are not this run's
            for old in self.dir.glob("step_*.pt"):
                old.unlink()

    def on_model(self, step: int, ema_model: torch.nn.Module) -> None:
        save_checkpoint({"step": step, "ema": ema_model.state_dict()}, self.snapshot(step))

    def snapshot(self, step: int) -> Path:
        return self.dir / f"step_{step:07d}.pt"


def load_snapshots(model_dir: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(step, EMA state dict) of every snapshot in `model_dir`, by step, one at a time."""
    for path in sorted((Path(model_dir) / SNAPSHOTS).glob("step_*.pt")):
        state = load_checkpoint(path)
        yield int(state["step"]), state["ema"]
