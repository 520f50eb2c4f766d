"""Train a CycleGAN on two domains: the params section, the seeded loop, the checkpoint.

Determinism: weights are initialised under ``torch.manual_seed(cfg.seed)`` and every
draw of the loop (the unpaired batches of A and B, the replay buffers) comes from one
``torch.Generator`` seeded from it, so the same config and data give the same weights
on a CPU with the same thread count (`cfg.threads`; reductions split by thread).

Outputs in `out_dir`: ``checkpoint.pt`` (format version, model args, weights, step and
the config; a plain dict written atomically and read with ``weights_only=True``) and
``train_log.jsonl`` (one JSON record per logged step: losses, learning rate, seconds).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from genforge.data.atomic import atomic_file, write_json_atomic
from genforge.errors import GenforgeError
from genforge.layout import CHECKPOINT, STEP_LOG, TRAIN_SUMMARY
from genforge.models.base import Optimizers
from genforge.training.progress import Progress
from genforge.translation.cyclegan import CycleGan, ReplayBuffer, Semantic, linear_decay
from genforge.translation.domains import Domains
from genforge.translation.sections import CycleGanConfig

FORMAT_VERSION = 1


class CycleGanCheckpointError(GenforgeError):
    """A CycleGAN checkpoint that is missing, unreadable or of another format."""


def build_model(
    cfg: CycleGanConfig, image_shape: tuple[int, int, int], d_classes: int = 0
) -> CycleGan:
    return CycleGan(
        image_shape, cfg.base_channels, cfg.res_blocks, cfg.d_channels,
        cfg.lambda_cycle, cfg.lambda_identity, cfg.d_strided, cfg.g_down, cfg.g_skip, d_classes,
    )  # fmt: skip


def discriminator_classes(cfg: CycleGanConfig, domains: Domains) -> int:
    """How many classes the discriminators are conditioned on (0: unconditional)."""
    if cfg.conditional_d is False:
        return 0
    if domains.labelled():
        return len(domains.train_a.class_names)
    if cfg.conditional_d:
        raise GenforgeError(
            f"{domains.where}: translation.cyclegan.conditional_d needs two labelled domains "
            "with the same classes (class sub-folders); set it to false or leave it unset"
        )
    return 0


def draw(x: torch.Tensor, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of a random batch (with replacement across batches)."""
    return torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)


def semantic_classifiers(cfg: CycleGanConfig, domains: Domains) -> Semantic | None:
    """Each domain's frozen classifier for the semantic term (None when it is off)."""
    if cfg.lambda_semantic == 0:
        return None
    if not domains.labelled():
        raise GenforgeError(
            f"{domains.where}: translation.cyclegan.lambda_semantic needs two labelled domains "
            "with the same classes (class sub-folders); set it to 0 for unlabelled domains"
        )
    from genforge.config import FeaturizerConfig
    from genforge.evaluation.featurizer import fit

    # another seed than the judges' (featurizer.seed); a direction is judged by the target
    # domain's classifier, steered by the source domain's (cyclegan.Semantic)
    fcfg = FeaturizerConfig(steps=cfg.semantic_steps, seed=cfg.seed + 1)
    nets = []
    for d in "AB":
        train = domains.split(d, "train")
        net = fit(
            fcfg, nchw(domains, d), torch.from_numpy(train.y), len(train.class_names), "classifier"
        )
        nets.append(net.eval().requires_grad_(False))
    return Semantic(cfg.lambda_semantic, *nets)


def nchw(domains: Domains, domain: str, split: str = "train") -> torch.Tensor:
    """One split's images as a uint8 (N, C, H, W) tensor."""
    return torch.from_numpy(domains.split(domain, split).x).permute(0, 3, 1, 2).contiguous()


def train_cyclegan(
    cfg: CycleGanConfig, domains: Domains, out_dir: Path, progress: bool = False
) -> dict[str, Any]:
    """Train G: A -> B and F: B -> A on the train splits; write the checkpoint and log.

    Returns the summary also written to ``out_dir/train_summary.json`` (steps,
    seconds, images/s, the last losses). The checkpoint is written once, at the end,
    atomically: an interrupted run leaves the previous checkpoint, or none.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = torch.get_num_threads()
    bar = Progress("cyclegan", cfg.steps, 0, enabled=progress)  # as the families' trainer
    torch.set_num_threads(cfg.threads)
    try:
        torch.manual_seed(cfg.seed)
        classes = discriminator_classes(cfg, domains)
        model = build_model(cfg, domains.image_shape, classes)
        gen = torch.Generator().manual_seed(cfg.seed)
        xa, xb = nchw(domains, "A"), nchw(domains, "B")
        semantic = semantic_classifiers(cfg, domains)
        ya, yb = (torch.from_numpy(domains.split(d, "train").y) for d in "AB")
        opts = model.configure_optimizers(cfg.lr, (cfg.beta1, cfg.beta2))
        scheds = [
            torch.optim.lr_scheduler.LambdaLR(o, lambda s: linear_decay(s, cfg.steps))
            for o in opts.values()
        ]
        opt = Optimizers(opts, grad_clip=cfg.grad_clip)
        pools = (ReplayBuffer(cfg.pool_size, gen), ReplayBuffer(cfg.pool_size, gen))
        start = time.perf_counter()
        losses: dict[str, float] = {}
        with atomic_file(out_dir / STEP_LOG) as log_path, open(log_path, "w") as log:
            for step in range(1, cfg.steps + 1):
                lr = opts["g"].param_groups[0]["lr"]
                ia, ib = draw(xa, cfg.batch_size, gen), draw(xb, cfg.batch_size, gen)
                if semantic is not None:
                    semantic.labels_a, semantic.labels_b = ya[ia], yb[ib]
                a, b = (x[i].float() / 127.5 - 1.0 for x, i in ((xa, ia), (xb, ib)))
                labels = (ya[ia], yb[ib]) if classes else None
                losses = model.training_step(a, b, opt, pools, semantic, labels)
                check_finite(losses, step)
                for s in scheds:
                    s.step()
                logged = step % cfg.log_every == 0 or step == cfg.steps
                if logged:
                    rec = {"step": step, "lr": lr, **losses}
                    rec["seconds"] = round(time.perf_counter() - start, 3)
                    log.write(json.dumps(rec) + "\n")
                shown = {k: losses[k] for k in ("loss_g", "loss_cycle")} if logged else None
                bar.update(step, shown)
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
        bar.close()
    save_cyclegan(model, cfg, cfg.steps, out_dir / CHECKPOINT)
    summary = {
        "steps": cfg.steps,
        "train_seconds": round(seconds, 2),
        "images_per_second": round(cfg.steps * cfg.batch_size / max(seconds, 1e-9), 1),
        "generator_parameters": model.generator_parameters(),
        "discriminator_classes": classes,
        **{f"last_{k}": round(v, 5) for k, v in losses.items()},
    }
    write_json_atomic(out_dir / TRAIN_SUMMARY, summary)
    return summary


def check_finite(losses: dict[str, float], step: int) -> None:
    bad = {k: v for k, v in losses.items() if not torch.isfinite(torch.tensor(v))}
    if bad:
        raise GenforgeError(f"cyclegan: non-finite loss at step {step}: {bad}; lower cyclegan.lr")


def save_cyclegan(model: CycleGan, cfg: CycleGanConfig, step: int, path: Path) -> None:
    """The checkpoint: a dict of primitives and tensors, renamed into place when complete."""
    state = {
        "format_version": FORMAT_VERSION,
        "family": "cyclegan",
        "model_args": model.args,
        "config": cfg.model_dump(mode="json"),
        "step": step,
        "model": model.state_dict(),
    }
    with atomic_file(Path(path)) as tmp:
        torch.save(state, tmp)


def load_cyclegan(path: Path, map_location: str = "cpu") -> tuple[CycleGan, dict[str, Any]]:
    """Rebuild the model from its checkpoint alone (``weights_only=True``), in eval mode.

    Returns (model, the checkpoint without the weights).
    """
    path = Path(path)
    if not path.is_file():
        raise CycleGanCheckpointError(f"{path}: no checkpoint here (train the cyclegan first)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated or foreign files raise several types
        raise CycleGanCheckpointError(f"{path}: cannot read checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CycleGanCheckpointError(
            f"{path}: not a cyclegan checkpoint (format {FORMAT_VERSION})"
        )
    args = dict(state["model_args"])
    model = CycleGan(tuple(args.pop("image_shape")), **args)
    model.load_state_dict(state.pop("model"))
    return model.eval(), state
