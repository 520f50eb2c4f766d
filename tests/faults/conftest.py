"""Fault-matrix fixtures: an `mlflow server` that a test can stop and start again on the
same port and database, tiny vae/gan checkpoints and a project whose champion is vae v1."""

from __future__ import annotations

import json
import os

import pytest

from genforge.registry.promote import connect, register_and_promote
from genforge.registry.versions import CHAMPION, PREVIOUS, eligible
from genforge.tracking.lineage import PARENT_ENV
from genforge.training.run import train_family
from tests.conftest import tiny_family, tiny_params, tiny_prepared
from tests.storage.servers import BIN, Server, free_port, http_ok
from tests.tracking.helpers import project, write_metrics

FAMILIES = ["vae", "gan"]


class Mlflow:
    """`mlflow server` (sqlite + local artifacts in `root`) that survives a stop()."""

    def __init__(self, root):
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
        cmd += ["--default-artifact-root", str(root / "artifacts")]
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.server = Server("mlflow server", cmd, env, root / "mlflow.log", self.port)

    def start(self) -> None:
        self.server.start(ready=lambda: http_ok(f"{self.url}/health"), timeout=120)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def mlflow(tmp_path, monkeypatch):
    server = Mlflow(tmp_path / "mlflow")
    server.start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.delenv(PARENT_ENV, raising=False)
    # a stopped server fails a call in seconds, not after MLflow's minutes of retries
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    prepared = tiny_prepared(tmp_path_factory)
    out = tmp_path_factory.mktemp("models")
    for family in FAMILIES:
        train_family(params_for("x"), family, prepared, out / family, progress=False)
    return prepared, {f: out / f / "checkpoint.pt" for f in FAMILIES}


def params_for(name: str):
    return tiny_params(
        FAMILIES,
        models={f: tiny_family(f, conditional=True) for f in FAMILIES},
        tracking={"registered_model_prefix": name, "serve_max_n": 8},
    )


def stored(mv) -> dict:
    """'Re-scoring' that returns the stored numbers: the data did not change."""
    return {"fid": json.loads(mv.tags["metrics"])["fid"], "recall": 0.6, "coverage": 0.7}


@pytest.fixture
def champion_v1(mlflow, checkpoints, tmp_path):
    """A project whose registry has vae v1 (fid 5) as champion; returns (root, params)."""
    prepared, ckpts = checkpoints
    root = project(tmp_path / "project", prepared, ckpts)
    params = params_for("faults")
    write_metrics(root, "vae", fid=5.0)
    register_and_promote(params, ["vae"], root, rescore=stored)
    return root, params


def assert_invariant(params, root) -> None:
    """The champion passed (or was forced) against the version now `previous`."""
    _, reg = connect(params, root)
    champion, previous = reg.alias(CHAMPION), reg.alias(PREVIOUS)
    assert champion is not None and eligible(champion), "champion on a version that failed"
    if previous is not None and champion.tags.get("gate.forced") != "true":
        assert champion.tags.get("gate.champion_version") == previous.version, (
            f"champion v{champion.version} was compared with "
            f"v{champion.tags.get('gate.champion_version')}, but it replaced v{previous.version}"
        )
    assert not reg.unfinished(), "an alias move left unfinished"
