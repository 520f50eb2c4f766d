"""Eager against `train.compile` (torch.compile) per family on this machine: steady-state
training images/s and the whole run's seconds (compilation included), side by side.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compile_speed.py [--steps 60]
        [--families gan vae] [--size 16] [--channels 1]

Each family is built from its params.yaml section and trained by the real trainer for
`--steps` updates on random images (10 classes), once eager and once with
`train.compile: true`; the steady state is the median images/s of the logged windows
after the first two (10 steps each), when compilation is done. Not a test: numbers
depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from genforge.config import load_params
from genforge.models import build
from genforge.training.trainer import Trainer


def run(params, family: str, compile_: bool, steps: int, shape: tuple[int, int, int]):
    cfg = params.models.family(family)
    torch.manual_seed(0)
    x = torch.randint(0, 256, (256, *shape), dtype=torch.uint8)
    y = torch.arange(256) % 10
    model = build(family, cfg, shape, 10)
    train = params.train.model_copy(
        update={"checkpoint_every": 10**9, "sample_every": 10**9, "log_every": 10,
                "compile": compile_}
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        meta = {"family": family, "model_args": {}, "fingerprint": "benchmark"}
        Trainer(model, train, steps, cfg.batch_size, Path(d), meta, progress=False).fit(x, y)
        total = time.perf_counter() - t0
        lines = (Path(d) / "train_log.jsonl").read_text().splitlines()
        windows = [json.loads(ln)["images_per_s"] for ln in lines]
    steady = sorted(windows[2:])
    return steady[len(steady) // 2], total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--families", nargs="*", default=None)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--channels", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    params = load_params(Path("params.yaml"))
    shape = (args.channels, args.size, args.size)
    print(
        "| family | eager img/s | compiled img/s | ratio | eager s | compiled s (with compiling) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for family in args.families or params.models.families:
        eager, eager_s = run(params, family, False, args.steps, shape)
        comp, comp_s = run(params, family, True, args.steps, shape)
        print(f"| {family} | {eager:.0f} | {comp:.0f} | {comp / eager:.2f} | {eager_s:.1f} | "
              f"{comp_s:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
