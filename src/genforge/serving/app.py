"""The FastAPI app of `genforge serve`: /health, /invocations (MLflow's protocol), the
page at / and its JSON API under /api. Every request takes the follower's current
model once, so a swap lands between requests; sampling runs in worker threads within
the `Limiter`'s bounds. A sampler's page generates (/api/generate, interpolate,
inpaint); a translation model's translates one upload (/api/translate); each refuses
the other's operations by name.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations here

from genforge.config import ServeConfig
from genforge.serving import generate
from genforge.serving.bounds import (
    MAX_DRAWS,
    MAX_SEED,
    MAX_STRIP,
    Fields,
    HttpError,
    Limiter,
    parse_object,
    read_body,
)
from genforge.serving.follower import Follower
from genforge.serving.loader import LoadError, Served

STATIC = Path(__file__).with_name("static")
GRID = ("n", "seed", "label", "version", "truncation", "steps", "psi")
INTERP = ("seed_a", "seed_b", "label", "version", "points", "t")
INPAINT = ("index", "seed", "version", "draws")
TRANSLATE = ("image", "direction", "version")
HINTS = {  # what to do instead, when an operation meets the other kind of model
    "translation": "POST an image to /api/translate or /invocations",
    "generation": "POST {'n': ...} rows to /invocations or use /api/generate",
}


def png64(images: torch.Tensor) -> list[str]:
    from genforge.serving.pyfunc_model import png_base64

    return [png_base64(image) for image in images]


class Api:
    """The page's operations on a served version; each returns a JSON-able dict."""

    def __init__(self, follower: Follower, cfg: ServeConfig, test: tuple | None):
        self.follower, self.cfg, self.test = follower, cfg, test

    def served(self, version: Any, kind: str | None = None) -> Served:
        """The champion or `version`; with `kind`, refused (400) if it is another kind."""
        served = self._served(version)
        if kind is not None and served.kind != kind:
            raise HttpError(
                400,
                f"{served.family} v{served.version} is a {served.kind} model; {HINTS[served.kind]}",
            )
        return served

    def _served(self, version: Any) -> Served:
        if version not in (None, ""):
            if not str(version).isdigit():
                raise HttpError(
                    400, f"version must be a registered version number, got {version!r}"
                )
            try:
                return self.follower.version(str(version))
            except LoadError as exc:
                raise HttpError(404, str(exc), "RESOURCE_DOES_NOT_EXIST") from None
        served = self.follower.current
        if served is None:
            raise HttpError(
                503, "no champion is loaded yet; see /health", "TEMPORARILY_UNAVAILABLE"
            )
        return served

    def info(self, served: Served) -> dict[str, Any]:
        if served.kind == "translation":  # describe() names its directions and shape
            return {
                **served.describe(),
                "capabilities": {"translate": True},
                "max_images": min(self.cfg.max_images, served.max_n),
                "max_body_bytes": self.cfg.max_body_bytes,
                "test_images": 0,
            }
        caps = generate.capabilities(served.model)
        caps["inpaint"] = caps["inpaint"] and self.test is not None
        return {
            **served.describe(),
            "capabilities": caps,
            "max_images": min(self.cfg.max_images, served.max_n),
            "test_images": 0 if self.test is None else len(self.test[1]),
        }

    def grid(self, values: dict[str, Any]) -> tuple[Served, torch.Tensor, list]:
        f = Fields(values, GRID)
        served = self.served(values.get("version"), "generation")
        caps, model = generate.capabilities(served.model), served.model
        n = f.integer("n", 16, 1, min(self.cfg.max_images, served.max_n))
        seed, label = f.integer("seed", 0, 0, MAX_SEED - 1), f.label(caps)
        truncation = f.number("truncation", 0.05, 3.0)
        steps = f.integer("steps", None, 1, caps["steps"]["max"]) if caps["steps"] else None
        if truncation is not None and not caps["truncation"]:
            raise HttpError(400, f"{served.family} v{served.version} has no latent to truncate")
        if "steps" in values and values["steps"] is not None and not caps["steps"]:
            raise HttpError(400, f"{served.family} v{served.version} has no sampler steps")
        psi = f.number("psi", 0.0, 1.0)
        if psi is not None and not caps["psi"]:
            raise HttpError(400, f"{served.family} v{served.version} has no truncation psi")
        images = generate.grid(model, n, seed, label, truncation, steps, psi)
        labels = generate.labels_for(model, n, label)
        return served, images, [] if labels is None else labels.tolist()

    def interpolate(self, values: dict[str, Any]) -> dict[str, Any]:
        f = Fields(values, INTERP)
        served = self.served(values.get("version"), "generation")
        caps = generate.capabilities(served.model)
        if not caps["latent"]:
            raise HttpError(400, f"{served.family} v{served.version} has no latent to interpolate")
        a, b = f.integer("seed_a", 0, 0, MAX_SEED - 1), f.integer("seed_b", 1, 0, MAX_SEED - 1)
        label, points = f.label(caps), f.integer("points", 8, 2, MAX_STRIP)
        t = f.number("t", 0.0, 1.0)
        ts = [t] if t is not None else np.linspace(0, 1, points).tolist()
        images = generate.interpolate(served.model, a, b, label, ts)
        return {"version": served.version, "t": ts, "images": png64(images)}

    def inpaint(self, values: dict[str, Any]) -> dict[str, Any]:
        f = Fields(values, INPAINT)
        served = self.served(values.get("version"), "generation")
        if not generate.can_inpaint(served.model):
            raise HttpError(
                400, f"{served.family} v{served.version} has no denoiser to inpaint with"
            )
        if self.test is None:
            raise HttpError(400, "no test images here (data/prepared/test.npz) to inpaint")
        x, y = self.test
        index = f.integer("index", 0, 0, len(y) - 1)
        seed, draws = f.integer("seed", 0, 0, MAX_SEED - 1), f.integer("draws", 2, 1, MAX_DRAWS)
        source = torch.from_numpy(x[index]).permute(2, 0, 1)  # (C, H, W)
        label = int(y[index]) if served.model.cfg.conditional else None
        images = generate.inpaint(served.model, source, label, seed, draws)
        return {"version": served.version, "label": label, "images": png64(images)}

    def translate(self, values: dict[str, Any]) -> dict[str, Any]:
        """One uploaded image through the translation model: what the model saw (the
        upload fitted to its shape), its translation, and that translated back."""
        from genforge.serving.pyfunc_translation import (
            TranslationRequest,
            parse_translation_rows,
            translate_requests,
        )

        Fields(values, TRANSLATE)  # unknown fields are refused by name
        served = self.served(values.get("version"), "translation")
        row = {k: values[k] for k in ("image", "direction") if k in values}
        try:
            [req] = parse_translation_rows([row], 1, served.python_model.image_shape)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        [out] = translate_requests(served.model, [req])
        back = "b2a" if req.direction == "a2b" else "a2b"
        [cycle] = translate_requests(served.model, [TranslationRequest(out, back)])
        return {
            "version": served.version,
            "family": served.family,
            "direction": req.direction,
            "label": served.describe()["directions"][req.direction] or req.direction,
            "images": png64(torch.stack([req.image, out, cycle])),  # input, translation, back
        }


def load_test_images(prepared: Path | None):
    if prepared is None or not (Path(prepared) / "test.npz").is_file():
        return None
    from genforge.data.prepare import load_prepared

    return load_prepared(Path(prepared), "test")


def create_app(follower: Follower, cfg: ServeConfig, prepared: Path | None = None):
    from fastapi import FastAPI
    from fastapi.responses import FileResponse, JSONResponse, Response
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations

    app = FastAPI(title="genforge serve", docs_url=None, redoc_url=None)
    api = Api(follower, cfg, load_test_images(prepared))
    limiter = Limiter(cfg.max_concurrent, cfg.max_queue)

    @app.exception_handler(HttpError)
    async def refused(request: Request, exc: HttpError):
        return JSONResponse(exc.body(), status_code=exc.status)

    async def run(fn, *args):
        async with limiter.slot():
            return await asyncio.to_thread(fn, *args)

    @app.get("/health")
    async def health():
        body = follower.health()
        return JSONResponse(body, status_code=200 if body["served"] else 503)

    @app.get("/ping")
    async def ping():
        return Response("\n", status_code=200 if follower.current else 503)

    @app.post("/invocations")
    async def invoke(request: Request):
        data = await read_body(request, cfg.max_body_bytes)
        served = api.served(None)

        def predict():  # MLflow's own parsing and JSON: the same answers as `models serve`
            schema = served.pyfunc.metadata.get_input_schema()
            return invocations(data, request.headers.get("content-type", ""), served.pyfunc, schema)

        try:
            result = await run(predict)
        except MlflowException as exc:
            return Response(
                exc.serialize_as_json(), exc.get_http_status_code(), media_type="application/json"
            )
        headers = {"X-Genforge-Version": served.version}
        return Response(result.response, result.status, headers=headers, media_type=result.mimetype)

    @app.get("/")
    async def page():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/page.js")
    async def page_js():
        return FileResponse(STATIC / "page.js", media_type="text/javascript")

    @app.get("/api/versions")
    async def versions():
        from genforge.registry.versions import Registry

        found = await asyncio.to_thread(Registry(follower.client, follower.name).versions)
        rows = [
            {
                "version": mv.version,
                "family": mv.tags.get("family"),
                "aliases": list(mv.aliases),
                "gate_passed": mv.tags.get("gate.passed") == "true",
            }
            for mv in found
        ]
        return {
            "registered_model": follower.name,
            "champion": follower.champion_seen,
            "versions": rows,
        }

    @app.get("/api/info")
    async def info(version: str | None = None):
        return api.info(await asyncio.to_thread(api.served, version))

    @app.post("/api/generate")
    async def generate_json(request: Request):
        values = parse_object(await read_body(request, cfg.max_body_bytes))
        served, images, labels = await run(api.grid, values)
        return {
            "version": served.version,
            "family": served.family,
            "labels": labels,
            "images": png64(images),
        }

    @app.get("/api/grid.png")
    async def grid_png(request: Request):
        from genforge.grids import grid_image, png_bytes

        served, images, _ = await run(api.grid, dict(request.query_params))
        name = f"genforge-v{served.version}-{served.family}.png"
        return Response(
            png_bytes(grid_image(images, nrow=min(8, len(images)), scale=4)),
            media_type="image/png",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.post("/api/interpolate")
    async def interpolate(request: Request):
        values = parse_object(await read_body(request, cfg.max_body_bytes))
        return await run(api.interpolate, values)

    @app.post("/api/inpaint")
    async def inpaint(request: Request):
        values = parse_object(await read_body(request, cfg.max_body_bytes))
        return await run(api.inpaint, values)

    @app.post("/api/translate")
    async def translate(request: Request):
        values = parse_object(await read_body(request, cfg.max_body_bytes))
        return await run(api.translate, values)

    app.state.api = api
    return app


def decode_png(b64: str) -> np.ndarray:
    """base64 PNG -> uint8 array (H, W[, C]); for clients and tests."""
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))
