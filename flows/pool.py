"""Runs of a deployment on a work pool, with bounded waits.

`run_deployment` without a timeout polls until the run ends, so with no worker on the
pool a retrain waited forever for runs still `Scheduled`. Here the wait has two bounds:
`start_timeout` for a worker to pick the run up (no worker: a clear `NoWorkerError`,
not retried, and the run is cancelled so it does not start by surprise later), and
`timeout` for the run to finish once started (the run is cancelled when exceeded).
"""

from __future__ import annotations

import time
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.states import Cancelled, Cancelling

from genforge.errors import GenforgeError

POLL_S = 2.0
NOT_STARTED = {StateType.SCHEDULED, StateType.PENDING}


class NoWorkerError(GenforgeError):
    """No worker started a deployment's run in time (none polls its pool)."""


class RunTimeoutError(GenforgeError):
    """A deployment's run started but did not finish in time."""


def run_on_pool(
    deployment: str, parameters: dict[str, Any], start_timeout: float, timeout: float
) -> FlowRun:
    """Create a run of `deployment`, wait for it to end; return it in its final state.

    Args:
        deployment: "<flow>/<deployment>", e.g. "train-family/gpu".
        parameters: the run's flow parameters.
        start_timeout: seconds a worker may take to pick the run up.
        timeout: seconds the run may take once started.
    """
    run = run_deployment(deployment, parameters=parameters, timeout=0)  # create, do not wait
    created = time.monotonic()
    started: float | None = None
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run.id)
            kind = run.state.type if run.state else StateType.SCHEDULED
            if run.state and run.state.is_final():
                return run
            if kind not in NOT_STARTED and started is None:
                started = time.monotonic()
            if started is None and time.monotonic() - created > start_timeout:
                _cancel(client, run, f"no worker started it within {start_timeout:g} s")
                pool = _pool(client, deployment)
                raise NoWorkerError(
                    f"no worker started run {run.name} ({run.id}) of {deployment} within "
                    f"{start_timeout:g} s: start one on work pool {pool!r} "
                    f"(`prefect worker start --pool {pool}`); the run was cancelled"
                )
            if started is not None and time.monotonic() - started > timeout:
                _cancel(client, run, f"it ran longer than {timeout:g} s")
                raise RunTimeoutError(
                    f"run {run.name} ({run.id}) of {deployment} did not finish within "
                    f"{timeout:g} s of starting; the run was cancelled"
                )
            time.sleep(POLL_S)


def _cancel(client, run: FlowRun, why: str) -> None:
    # a started run is set Cancelling, which its worker acts on by stopping the process
    started = run.state is not None and run.state.type not in NOT_STARTED
    state = (Cancelling if started else Cancelled)(message=f"genforge: {why}")
    client.set_flow_run_state(run.id, state, force=True)


def _pool(client, deployment: str) -> str:
    return client.read_deployment_by_name(deployment).work_pool_name or "?"


def retry_unless_no_worker(task, task_run, state) -> bool:
    """Prefect `retry_condition_fn`: retrying cannot help while no worker polls the pool."""
    return not isinstance(state.result(raise_on_failure=False), NoWorkerError)
