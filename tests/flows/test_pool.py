"""A family run on a work pool that no worker polls fails clearly, in bounded time.

A real `prefect server` on 127.0.0.1 with genforge's pools and deployments (deployed by
`flows.deploy` from a tiny copy of this repo) and no worker: `train_on_pool` used to
wait for ever for a run that stayed `Scheduled`.
"""

from __future__ import annotations

import sys
import time

import pytest
from flows.pool import NoWorkerError, retry_unless_no_worker
from flows.retrain import train_on_pool
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.flows.conftest import make_tiny_repo, prefect_env, run_ok, start_server, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server_without_workers(tmp_path_factory):
    root = tmp_path_factory.mktemp("pool")
    repo = make_tiny_repo(root / "repo")
    env = prefect_env(root / "prefect-home")
    server, url = start_server(env, root / "server.log")
    try:
        env["PREFECT_API_URL"] = url
        run_ok([sys.executable, "-m", "flows.deploy", "--gpus", "1"], cwd=repo, env=env)
        yield repo, url
    finally:
        stop(server)


def test_no_worker_on_the_pool_fails_naming_the_pool_and_cancels_the_run(
    server_without_workers,
):
    repo, url = server_without_workers
    with temporary_settings({PREFECT_API_URL: url}):
        start = time.monotonic()
        with pytest.raises(NoWorkerError, match="prefect worker start --pool gpu") as err:
            train_on_pool.fn("train-family/gpu", str(repo), "gan", ["train@gan"], 5)
        waited = time.monotonic() - start
        assert waited < 60, f"waited {waited:.0f} s for a 5 s start bound"
        with get_client(sync_client=True) as client:
            runs = [r for r in client.read_flow_runs() if r.parameters.get("family") == "gan"]
        assert len(runs) == 1 and all(r.state.is_cancelled() for r in runs), [r.state for r in runs]
    assert "within 5 s" in str(err.value)


def test_deploy_limits_promotion_gates_to_one_at_a_time(server_without_workers):
    from flows.deploy import PROMOTION_TAG, ensure_promotion_limit
    from flows.retrain import register_and_gate

    _, url = server_without_workers
    assert PROMOTION_TAG in register_and_gate.tags
    with temporary_settings({PREFECT_API_URL: url}):
        with get_client(sync_client=True) as client:
            assert client.read_concurrency_limit_by_tag(PROMOTION_TAG).concurrency_limit == 1
        ensure_promotion_limit()  # a second deploy: still one limit, still 1
        with get_client(sync_client=True) as client:
            limits = client.read_concurrency_limits(limit=100, offset=0)
    assert [c.concurrency_limit for c in limits if c.tag == PROMOTION_TAG] == [1]


def test_a_run_no_worker_started_is_not_retried():
    from prefect.states import Failed

    task = train_on_pool
    assert not retry_unless_no_worker(task, None, Failed(data=NoWorkerError("none")))
    assert retry_unless_no_worker(task, None, Failed(data=RuntimeError("run crashed")))
