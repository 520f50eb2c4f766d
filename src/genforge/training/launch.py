"""Multi-GPU within one worker: `genforge train` starts itself under `torchrun`.

With `train.nproc_per_node: N > 1`, `genforge train --family F` (not already under
torchrun, i.e. no LOCAL_RANK in the environment) runs

    python -m torch.distributed.run --standalone --nproc-per-node N \\
        -m genforge.cli --params P train --family F

and waits for it: exactly what one would type by hand, so a dvc.yaml stage or a
Prefect task needs no change to use every GPU of its worker. Each rank joins the
process group in `distributed.init_from_env` (NCCL on CUDA, gloo on CPU); on CUDA
each rank is first bound to GPU LOCAL_RANK here, so N ranks use N different GPUs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from genforge.config import TrainConfig
from genforge.errors import GenforgeError


def under_torchrun() -> bool:
    """True inside a process started by torchrun (it sets LOCAL_RANK for every rank)."""
    return "LOCAL_RANK" in os.environ


def wants_cuda(cfg: TrainConfig) -> bool:
    return cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())


def torchrun_command(nproc: int, params_path: str, family: str) -> list[str]:
    """The torchrun command line that trains `family` on `nproc` local processes."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        "-m",
        "genforge.cli",
        "--params",
        params_path,
        "train",
        "--family",
        family,
    ]


def check_gpus(cfg: TrainConfig) -> None:
    """On CUDA each rank needs its own GPU: N ranks on fewer GPUs is a config error."""
    if wants_cuda(cfg) and cfg.nproc_per_node > torch.cuda.device_count():
        raise GenforgeError(
            f"train.nproc_per_node is {cfg.nproc_per_node} but this machine has "
            f"{torch.cuda.device_count()} GPU(s); set it to at most that, or train.device: cpu"
        )


def bind_local_device(cfg: TrainConfig) -> None:
    """Under torchrun on CUDA, make GPU LOCAL_RANK this rank's default device."""
    if under_torchrun() and wants_cuda(cfg):
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))


def run_torchrun(cmd: list[str], family: str, nproc: int) -> None:
    """Run torchrun, passing on Ctrl-C / termination to it; GenforgeError on failure."""
    proc = subprocess.Popen(cmd)
    try:
        code = proc.wait()
    except BaseException:
        proc.terminate()  # torchrun stops its workers on SIGTERM
        proc.wait(timeout=60)
        raise
    if code != 0:
        raise GenforgeError(
            f"training {family} on {nproc} processes under torchrun failed with exit code "
            f"{code} (see the rank logs above)"
        )


def launch_if_needed(cfg: TrainConfig, params_path: str, family: str) -> bool:
    """Train under torchrun when `train.nproc_per_node > 1`; True if that happened.

    Returns False when this process should train itself: a single process, or one
    rank already started by torchrun (bound to its own GPU on CUDA).
    """
    if under_torchrun() or cfg.nproc_per_node <= 1:
        bind_local_device(cfg)
        return False
    check_gpus(cfg)
    run_torchrun(
        torchrun_command(cfg.nproc_per_node, params_path, family), family, cfg.nproc_per_node
    )
    return True
