"""`genforge train --family X`: prepared data in, models/X/ out.

Writes `checkpoint.pt` (family, model args, weights, EMA, optimizers, RNG, step),
`train_log.jsonl` (per-step losses and images/s), `samples.png` (EMA samples; one
row per class for conditional models), `train_summary.json` and `snapshots/` (the EMA
weights every `train.sample_every` steps, for the evaluation's FID-vs-step curve).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from genforge.config import Params
from genforge.data.prepare import load_meta, load_prepared
from genforge.grids import grid_image
from genforge.layout import GRID, STEP_LOG, TRAIN_SUMMARY
from genforge.models import build
from genforge.models.registry import family_sources
from genforge.plots import losses_plot
from genforge.training.checkpoint import EmaSnapshots
from genforge.training.distributed import DistInfo, init_from_env
from genforge.training.lock import family_lock
from genforge.training.trainer import Trainer, pick_device


def code_hash(family: str) -> str:
    """sha256 of the family's sources and the trainer's: a checkpoint from other code never
    resumes, and another family's code (models/registry.family_sources) is not in it."""
    root = Path(__file__).parents[1]  # src/genforge
    h = hashlib.sha256()
    for path in sorted({*family_sources(family), *root.glob("training/*.py")}):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(params: Params, family: str, data_hash: str) -> str:
    """What a resumable checkpoint must match: family and train params, data and code.

    DVC reruns a stage when any of these change, and `models/<family>` persists
    across reruns, so a finished checkpoint must not be mistaken for this run's.
    """
    blob = json.dumps(
        {
            "family": params.models.family(family).model_dump(),
            "train": params.train.model_dump(),
            "data": data_hash,
            "code": code_hash(family),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train_family(
    params: Params,
    family: str,
    prepared_dir: Path,
    out_dir: Path,
    callbacks: list[Any] | None = None,
    progress: bool = True,
    loss_plot: Path | None = None,
) -> dict[str, Any]:
    """Train one family on the prepared train split, resuming a matching checkpoint;
    with `loss_plot`, write its losses against step there (genforge.plots, a DVC plot).

    Returns the training summary (steps, wall time, images/s, parameter counts).
    Raises FamilyLocked when another process is training into `out_dir`.
    """
    dist_info = init_from_env(pick_device(params.train.device).type)
    outer_threads = torch.get_num_threads()
    # The thread count changes how CPU reductions are split, hence the weights: pin it.
    torch.set_num_threads(params.train.threads)
    try:
        with family_lock(out_dir, family, enabled=dist_info.is_main):  # rank 0 holds it
            summary = _train_locked(
                params, family, prepared_dir, Path(out_dir), callbacks, progress, dist_info
            )
    finally:
        torch.set_num_threads(outer_threads)
    if loss_plot is not None and dist_info.is_main:
        losses_plot(Path(out_dir) / STEP_LOG, loss_plot)
    return summary


def _train_locked(
    params: Params,
    family: str,
    prepared_dir: Path,
    out_dir: Path,
    callbacks: list[Any] | None,
    progress: bool,
    dist_info: DistInfo,
) -> dict[str, Any]:
    cfg = params.models.family(family)
    meta = load_meta(prepared_dir)
    x, y = load_prepared(prepared_dir, "train")  # uint8 (N, H, W, C), int64 (N,)
    x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)
    y = torch.from_numpy(y)
    image_shape = tuple(x.shape[1:])

    torch.manual_seed(params.train.seed)  # same init on every rank, then broadcast
    model = build(family, cfg, image_shape, meta["num_classes"])
    ckpt_meta = checkpoint_meta(params, family, meta, image_shape)
    trainer = Trainer(
        model,
        params.train,
        cfg.steps,
        cfg.batch_size,
        out_dir,
        ckpt_meta,
        callbacks=list(callbacks or []),
        dist_info=dist_info,
        progress=progress,
    )
    # Per-rank noise stream for training; restored exactly on resume.
    torch.manual_seed(params.train.seed + 1 + dist_info.rank)
    resumed = trainer.try_resume()
    if not resumed and dist_info.is_main:
        (out_dir / STEP_LOG).unlink(missing_ok=True)
    if dist_info.is_main:
        trainer.callbacks.append(EmaSnapshots(out_dir, fresh=not resumed))
    summary = trainer.fit(x, y)
    summary.update(
        params=sum(p.numel() for p in model.parameters()),
        generator_params=model.generator_parameters(),
        checkpoint_bytes=trainer.checkpoint_path.stat().st_size if dist_info.is_main else 0,
        threads=ckpt_meta["threads"],
    )
    if dist_info.is_main:
        grid_image(trainer.sample_grid()).save(out_dir / GRID)
        (out_dir / TRAIN_SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        print(
            f"{family}: {summary['steps']} steps in {summary['train_seconds']:.1f} s "
            f"({summary['images_per_s']:.0f} images/s) -> {out_dir}"
        )
    return summary


def checkpoint_meta(params: Params, family: str, meta: dict, image_shape) -> dict[str, Any]:
    """What a checkpoint carries besides the trainer's state: enough to rebuild the model
    without params.yaml, and the fingerprint a resumed run must match."""
    return {
        "family": family,
        "model_args": {
            "cfg": params.models.family(family).model_dump(),
            "image_shape": list(image_shape),
            "num_classes": meta["num_classes"],
            "class_names": meta["class_names"],
        },
        "data_hash": meta["sha256"],
        "fingerprint": fingerprint(params, family, meta["sha256"]),
        "threads": torch.get_num_threads(),  # train.threads, as torch applied it
    }


def write_finetune_start(
    params: Params, family: str, prepared_dir: Path, out_dir: Path, weights: dict[str, Any]
) -> list[str]:
    """Write a step-0 checkpoint into `out_dir` that `train_family` resumes as a fine-tune.

    The family is built for this data with the initialisation training from scratch
    gets; every tensor of `weights` (e.g. a pre-trained EMA state dict) whose name and
    shape match is copied in, the rest (e.g. label embeddings for another class count)
    keep their fresh values. Optimizers, LR schedules and the EMA start fresh (the EMA's
    first update copies the weights). The checkpoint is the trainer's own (`Trainer.save`).
    Returns the names of the re-initialised modules.
    """
    cfg = params.models.family(family)
    meta = load_meta(prepared_dir)
    h, w, c = meta["image_shape"]
    torch.manual_seed(params.train.seed)  # the same initialisation as from scratch
    model = build(family, cfg, (c, h, w), meta["num_classes"])
    own = model.state_dict()
    reinit = [k for k, v in own.items() if k not in weights or weights[k].shape != v.shape]
    model.load_state_dict({k: own[k] if k in reinit else weights[k] for k in own})
    trainer = Trainer(
        model,
        params.train,
        cfg.steps,
        cfg.batch_size,
        Path(out_dir),
        checkpoint_meta(params, family, meta, (c, h, w)),
        progress=False,
    )
    torch.manual_seed(params.train.seed + 1)  # the training noise stream train_family seeds
    trainer.save()
    return sorted({k.rsplit(".", 1)[0] for k in reinit})
