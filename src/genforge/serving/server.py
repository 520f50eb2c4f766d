"""`genforge serve`: connect to the registry, load the champion, follow it, serve HTTP.

`--model families` (the default) serves the dataset's registered model (a sampler);
`--model translation` the translation model's own (translation.name, a CycleGAN), with
the same alias following, /health, /invocations and page.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from pathlib import Path

import torch

from genforge.config import Params, ServeConfig
from genforge.errors import GenforgeError
from genforge.layout import Layout
from genforge.serving.follower import Follower
from genforge.tracking import lineage

log = logging.getLogger("genforge.serve")
# --model: which registered model, and the kind of model its versions must be
MODELS = {
    "families": (lineage.registered_model_name, "generation"),
    "translation": (lineage.translation_model_name, "translation"),
}


class ServeError(GenforgeError):
    """The service cannot start (registry unreachable, port in use, ...)."""


def build(params: Params, cfg: ServeConfig, root: Path = Path("."), model: str = "families"):
    """(app, follower) for this project's registered model (`model`: a key of MODELS); the
    first poll runs here, so a reachable champion is served from the first request."""
    import mlflow

    from genforge.serving.app import create_app
    from genforge.serving.loader import load_version

    if model not in MODELS:
        raise ServeError(f"--model {model!r}: allowed: {', '.join(MODELS)}")
    model_name, kind = MODELS[model]
    uri = lineage.tracking_uri(params, root)
    name = model_name(params)
    mlflow.set_tracking_uri(uri)
    loader = functools.partial(load_version, kind=kind)
    follower = Follower(lineage.mlflow_client(uri), name, cfg.poll_s, loader)
    follower.poll_once()
    if follower.current is None:
        why = (follower.failed or {}).get("error") or follower.registry_error
        log.warning("no champion served yet (%s); polling %s every %.3g s", why, uri, cfg.poll_s)
    prepared = Layout(Path(root)).prepared  # test images to inpaint (samplers only)
    test = prepared if prepared.is_dir() and kind == "generation" else None
    return create_app(follower, cfg, test), follower


def serve_config(cfg: ServeConfig, **flags) -> ServeConfig:
    """params.serve with the command line's --host/--port/--poll-s (None: not given),
    validated like params.yaml; a bad value is a ServeError naming the flag."""
    from pydantic import ValidationError

    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return ServeConfig.model_validate({**cfg.model_dump(), **given})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(map(str, e['loc'])).replace('_', '-')} {e['input']!r}: {e['msg']}"
            for e in exc.errors()
        )
        raise ServeError(f"invalid option(s): {problems}") from None


def serve(
    params: Params, cfg: ServeConfig, root: Path = Path("."), model: str = "families"
) -> None:
    """Run the service of `model` (MODELS) until interrupted (SIGINT/SIGTERM end it cleanly)."""
    import uvicorn

    check_port(cfg.host, cfg.port)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a log, not a tty
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # each request samples on its own thread; split the cores between them
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // cfg.max_concurrent))
    app, follower = build(params, cfg, root, model)
    follower.start()
    log.info(
        "starting on http://%s:%d for models:/%s@champion (page at /, health at /health)",
        cfg.host,
        cfg.port,
        follower.name,
    )
    try:
        uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
    finally:
        follower.stop()


def check_port(host: str, port: int) -> None:
    """Fail before loading anything when the address cannot be bound."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ServeError(
                f"cannot listen on {host}:{port} (serve.host / serve.port, or --host/--port): "
                f"{exc.strerror}"
            ) from None
