"""Create genforge's work pools and deploy prefect.yaml to the configured Prefect server.

Usage (PREFECT_API_URL pointing at a server, from the repository root):
    python -m flows.deploy [--gpus N]

Work pools: `cpu` (process) runs `retrain`; `gpu` (process, on a GPU host) runs
`train-family/gpu` with a concurrency limit of N, the host's GPU count, so each
family run gets one GPU. Then `prefect deploy --all` reads prefect.yaml with
GENFORGE_REPO set to this checkout. The tag concurrency limit `genforge-promotion` = 1
runs one promotion gate at a time across flow runs (the gate task in flows/retrain.py
carries that tag).
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
PROMOTION_TAG = "genforge-promotion"  # the tag of flows.retrain.register_and_gate


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


def ensure_promotion_limit() -> None:
    """One gate task at a time: a second waits instead of re-scoring a champion being moved.

    POST /concurrency_limits/ upserts by tag, so a rerun sets the value back to 1."""
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=PROMOTION_TAG, concurrency_limit=1)
        limit = client.read_concurrency_limit_by_tag(PROMOTION_TAG).concurrency_limit
    if limit != 1:
        sys.exit(f"error: tag concurrency limit {PROMOTION_TAG} is {limit} after setting it to 1")
    print(f"tag concurrency limit {PROMOTION_TAG}: 1")


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
    ensure_promotion_limit()
    deploy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
