"""Training and sampling speed per family at 16, 32 and 64 px RGB, measured in one run.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_speed.py [--steps 20]
        [--sizes 16 32 64] [--families gan vae] [--channels 3] [--sample 8]

Each family is built from its params.yaml section (batch size included) for each
image size and trained for `--steps` updates by the real trainer (EMA, gradient
clipping, the configured device) on random images with two classes; then it
draws `--sample` images. The table gives training images/s, the cost per image
relative to 16 px (1.0 = as fast per image as at 16 px; 0.25 = 4x slower, what a
network whose cost grows with the pixel count shows from 16 to 32 px), sampling
images/s and parameters. Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from genforge.config import load_params
from genforge.models import build
from genforge.training.trainer import Trainer

CLASSES = 2


def measure(params, family: str, size: int, channels: int, steps: int, n_sample: int, tmp: Path):
    """Train `family` for `steps` updates at size x size; return one table row (a dict)."""
    cfg = params.models.family(family)
    torch.manual_seed(0)
    n = max(cfg.batch_size * 4, 64)
    x = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8)  # (N, C, S, S)
    y = torch.arange(n) % CLASSES
    model = build(family, cfg, (channels, size, size), CLASSES)
    train_cfg = params.train.model_copy(
        update={"checkpoint_every": 10**9, "sample_every": 10**9, "log_every": 10**9}
    )
    meta = {"family": family, "model_args": {}, "fingerprint": "benchmark"}
    trainer = Trainer(
        model, train_cfg, steps, cfg.batch_size, tmp / f"{family}-{size}", meta, progress=False
    )
    summary = trainer.fit(x, y)
    t0 = time.perf_counter()
    model.sample(n_sample, generator=torch.Generator().manual_seed(0))
    sample_s = time.perf_counter() - t0
    return {
        "family": family,
        "size": size,
        "train_ips": summary["images_per_s"],
        "sample_ips": n_sample / max(sample_s, 1e-9),
        "params": sum(p.numel() for p in model.parameters()),
        "device": summary["device"],
    }


def print_table(rows: list[dict], sizes: list[int], steps: int, channels: int) -> None:
    base = {r["family"]: r["train_ips"] for r in rows if r["size"] == sizes[0]}
    print(
        f"\n{steps} training steps per family and size, {channels} channels, "
        f"device {rows[0]['device']}, {torch.get_num_threads()} CPU thread(s)"
    )
    print(
        f"{'family':<10} {'size':>5} {'train img/s':>11} {f'vs {sizes[0]} px':>9} "
        f"{'sample img/s':>12} {'params':>11}"
    )
    for r in rows:
        rel = r["train_ips"] / base[r["family"]] if r["family"] in base else float("nan")
        print(
            f"{r['family']:<10} {r['size']:>5} {r['train_ips']:>11.0f} {rel:>9.2f} "
            f"{r['sample_ips']:>12.1f} {r['params']:>11,}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="*", default=[16, 32, 64])
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3)
    parser.add_argument("--sample", type=int, default=8, help="images drawn per family and size")
    parser.add_argument("--families", nargs="*")
    args = parser.parse_args()

    params = load_params(args.params)
    families = args.families or params.models.families
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for family in families:
                row = measure(
                    params, family, size, args.channels, args.steps, args.sample, Path(tmp)
                )
                print(f"{family} {size} px: {row['train_ips']:.0f} train img/s", flush=True)
                rows.append(row)
    print_table(rows, args.sizes, args.steps, args.channels)


if __name__ == "__main__":
    main()
