"""One stack for the serving tests (package scope, it is the slow part): a real `mlflow
server`, a project whose champion was chosen by the pipeline's own gate, and
`genforge serve` started as a process on a free port (poll_s = 1).

The data are coloured squares (4 classes by colour) so that a 300-step conditional GAN
draws the class it is asked for, and the domain classifier (the featurizer's network
and training) can tell: the page test checks the class with it.
"""

from __future__ import annotations

import inspect
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from genforge.registry.promote import register_and_promote
from genforge.training.run import train_family
from tests.conftest import tiny_family, tiny_params
from tests.storage.servers import BIN, Server, free_port, http_ok
from tests.tracking.helpers import mlflow_server, project, serve_env, write_metrics

FAMILIES = ["vae", "gan", "diffusion"]  # registered as v1, v2, v3
COLOURS = {"shapes": ["square"], "colours": ["red", "green", "blue", "yellow"], "per_class": 40}
POLL_S = 1.0


def stack_params(name: str, port: int):
    models = {
        "vae": tiny_family("vae", conditional=True),
        "gan": tiny_family("gan", conditional=True, steps=300, lr=0.002, batch_size=16),
        "diffusion": tiny_family("diffusion", conditional=True),
    }
    models["gan"]["base_channels"] = 16
    return tiny_params(
        FAMILIES,
        data={"shapes": {**COLOURS, "canvas": 16}},
        models=models,
        tracking={"registered_model_prefix": name, "serve_max_n": 16},
        featurizer={"steps": 300, "batch_size": 16, "min_test_accuracy": 0.0},
        serve={"port": port, "poll_s": POLL_S, "max_images": 16, "max_concurrent": 2},
    )


def no_rescore(mv):
    raise AssertionError("there is no champion to re-score")


def rescored(fid: float):
    return lambda mv: {"fid": fid, "recall": 0.6, "coverage": 0.7}


def domain_classifier(params, prepared: Path):
    """The featurizer's classifier (its network and training code) on the train split."""
    from genforge.data.prepare import load_prepared
    from genforge.evaluation import featurizer

    x, y = load_prepared(prepared, "train")
    # evaluation/featurizer.py is gaining self-supervised objectives; ask for the classifier
    extra = (
        {"objective": "classifier"}
        if "objective" in inspect.signature(featurizer.fit).parameters
        else {}
    )
    return featurizer.fit(
        params.featurizer, featurizer.to_nchw(x), torch.from_numpy(y).long(), 4, **extra
    )


@dataclass
class Stack:
    mlflow: str
    root: Path
    params: object
    url: str
    serve: Server
    artifacts: Path
    classifier: object

    def get(self, path: str, timeout: float = 30) -> tuple[int, dict, dict]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, json.loads(r.read()), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read()), dict(exc.headers)

    def health(self) -> dict:
        return self.get("/health")[1]


def post(url: str, payload=None, raw: bytes | None = None, timeout: float = 60):
    """(status, JSON body, headers) of a POST; `raw` sends bytes as they are."""
    data = raw if raw is not None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    from genforge.data.ingest import ingest
    from genforge.data.prepare import prepare

    base = tmp_path_factory.mktemp("serving")
    port = free_port()
    params = stack_params("serving", port)
    ingest(params.data, base / "raw")
    prepare(params.data, base / "raw", base / "prepared")
    ckpts = {}
    for family in FAMILIES:
        train_family(params, family, base / "prepared", base / "models" / family, progress=False)
        ckpts[family] = base / "models" / family / "checkpoint.pt"
    classifier = domain_classifier(params, base / "prepared")
    with mlflow_server(base / "mlflow") as mlflow_url:
        root = project(base / "project", base / "prepared", ckpts)
        (root / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json")))
        env = serve_env(mlflow_url)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_URI", mlflow_url)
            mp.delenv("GENFORGE_PARENT_RUN_ID", raising=False)
            write_metrics(root, "vae", fid=5.0)
            write_metrics(root, "gan", fid=50.0)  # fails the gate: vae v1 is the champion
            write_metrics(root, "diffusion", fid=60.0)
            report = register_and_promote(params, FAMILIES, root, rescore=no_rescore)
            assert report["champion"]["version"] == "1", report
            # in the project folder, as a user runs it (exec: the PID stays the server's)
            cmd = ["/bin/sh", "-c", f'cd "{root}" && exec "{BIN}/genforge" serve']
            serve = Server(
                "genforge serve", cmd, {**env, "OMP_NUM_THREADS": "1"}, root / "serve.log", port
            )
            serve.start(ready=lambda: http_ok(f"http://127.0.0.1:{port}/ping"), timeout=120)
            try:
                yield Stack(
                    mlflow_url,
                    root,
                    params,
                    f"http://127.0.0.1:{port}",
                    serve,
                    base / "mlflow" / "artifacts",
                    classifier,
                )
            finally:
                serve.stop()
