"""Create genforge's work pools and deploy prefect.yaml to the configured Prefect server.

Usage (PREFECT_API_URL pointing at a server, from the repository root):
    python -m flows.deploy [--gpus N]

Work pools: `cpu` (process) runs `retrain`; `gpu` (process, on a GPU host) runs
`train-family/gpu` with a concurrency limit of N, the host's GPU count, so each
family run gets one GPU. Then `prefect deploy --all` reads prefect.yaml with
GENFORGE_REPO set to this checkout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.workers.process import ProcessWorker

REPO = Path(__file__).resolve().parents[1]


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def ensure_pools(gpus: int) -> None:
    """Create (or update) the `cpu` and `gpu` process pools."""
    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client:
        for name, limit in (("cpu", None), ("gpu", max(gpus, 1))):
            pool = WorkPoolCreate(
                name=name, type="process", base_job_template=template, concurrency_limit=limit
            )
            client.create_work_pool(pool, overwrite=True)
            print(f"work pool {name}: process, concurrency limit {limit}")


def deploy(repo: Path = REPO) -> None:
    env = {**os.environ, "GENFORGE_REPO": str(repo)}
    prefect = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect), "--no-prompt", "deploy", "--all"]
    result = subprocess.run(cmd, cwd=repo, env=env)
    if result.returncode != 0:
        sys.exit(f"error: `prefect deploy --all` failed with exit code {result.returncode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=None, help="GPU count (default: detected)")
    args = parser.parse_args(argv)
    ensure_pools(gpu_count() if args.gpus is None else args.gpus)
    deploy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
