"""Run by `torchrun` in test_distributed.py: train one family, write this rank's weight digest.

Arguments: family, prepared dir, output dir, and optionally the number of steps.
"""

import sys
from pathlib import Path

import torch.distributed as dist
from tests.conftest import tiny_family, tiny_params

from genforge.training.run import train_family

family, prepared, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
steps = int(sys.argv[4]) if len(sys.argv) > 4 else None  # else tiny_params' 6 steps
params = tiny_params([family])
if steps:
    params = tiny_params(
        [family],
        models={family: tiny_family(family, steps=steps)},
        train={"checkpoint_every": 20, "log_every": 10},
    )
summary = train_family(params, family, prepared, out / "model", progress=False)
rank = dist.get_rank()
(out / f"rank{rank}.txt").write_text(f"{summary['weights_sha256']} {summary['world_size']}\n")
dist.destroy_process_group()
