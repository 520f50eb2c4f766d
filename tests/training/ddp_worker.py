"""Run by `torchrun` in test_distributed.py: train one family, write this rank's weight digest."""

import sys
from pathlib import Path

import torch.distributed as dist
from tests.conftest import tiny_params

from genforge.training.run import train_family

family, prepared, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
summary = train_family(tiny_params([family]), family, prepared, out / "model", progress=False)
rank = dist.get_rank()
(out / f"rank{rank}.txt").write_text(f"{summary['weights_sha256']} {summary['world_size']}\n")
dist.destroy_process_group()
