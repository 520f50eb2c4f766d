"""Serving the translation model: a tiny CycleGAN logged from code, registered in a real
MLflow store (sqlite in tmp) with its digest tag and the champion alias, then

- loaded back with `mlflow.pyfunc.load_model` (pickles disallowed): uploads of any size
  and mode come back translated at the model's shape, exactly the model's own output;
- bad rows are refused with INVALID_PARAMETER_VALUE naming the row;
- `genforge serve --model translation` (a process, as the family server is tested)
  answers /invocations, /health names the version, the page offers the upload box, and
  a new champion is followed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow.exceptions import MlflowException
from PIL import Image

from genforge.config import Params
from genforge.data.images import decode_image
from genforge.tracking import lineage
from genforge.translation.domains import DomainsConfig, embedded_domains
from genforge.translation.train import CycleGanConfig, load_cyclegan, train_cyclegan
from tests.report.test_browser import chromium  # noqa: F401  (the fixture)
from tests.serving.conftest import post
from tests.serving.test_page import evaluate, images, wait_js
from tests.storage.servers import BIN, Server, free_port, http_ok
from tests.tracking.helpers import serve_env
from tests.translation.conftest import TINY

MAX_N = 4
SIDE = 8  # the tiny model's images: (1, 8, 8)
NAMES = {"a2b": "handwritten digits -> typeset digits", "b2a": "typeset digits -> handwritten"}


def png64(array: np.ndarray, mode: str) -> str:
    buf = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def uploads() -> list[str]:
    """Three uploads of other sizes and modes than the model's: RGB 16x16, RGBA 20x12, L 8x8."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    rgba = np.dstack([rng.integers(0, 256, (12, 20, 3)), np.full((12, 20), 255)]).astype(np.uint8)
    return [
        png64(rgb, "RGB"),
        png64(rgba, "RGBA"),
        png64(rng.integers(0, 256, (8, 8), np.uint8), "L"),
    ]


def pixels(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def project_params(port: int) -> Params:
    return Params.model_validate(
        {
            "tracking": {"registered_model_prefix": "trserve", "serve_max_n": MAX_N},
            "serve": {"port": port, "poll_s": 1.0},
        }
    )


def register(client, name: str, info, checkpoint) -> str:
    """Register the logged model as the pipeline does (tags, digest) and make it champion."""
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    tags = {
        "family": "cyclegan",
        "kind": "translation",
        "checkpoint_sha256": digest,
        "directions": json.dumps(NAMES),
        "metrics": json.dumps({"fid_vs_identity_mean": 0.4}),
    }
    mv = mlflow.register_model(info.model_uri, name, tags=tags)
    client.set_registered_model_alias(name, "champion", mv.version)
    return str(mv.version)


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """(project root, params, tracking URI, registered name, checkpoint) with v1 champion."""
    from genforge.serving.pyfunc_translation import log_translator_model

    base = tmp_path_factory.mktemp("translation-serving")
    domains = embedded_domains(DomainsConfig(image_size=SIDE, typeset_per_class=20))
    train_cyclegan(CycleGanConfig(**{**TINY, "steps": 4}), domains, base / "model")
    checkpoint = base / "model" / "checkpoint.pt"
    root = base / "project"
    root.mkdir()
    params = project_params(free_port())
    (root / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json")))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        exp = mlflow.create_experiment("translation", artifact_location=str(root / "artifacts"))
        with mlflow.start_run(experiment_id=exp):
            info = log_translator_model(checkpoint, max_n=MAX_N)
        name = lineage.translation_model_name(params)
        assert register(mlflow.MlflowClient(uri), name, info, checkpoint) == "1"
        yield root, params, uri, name, checkpoint, info
    finally:
        mlflow.set_tracking_uri(before)


@pytest.fixture(scope="module")
def loaded(registered):
    _, _, uri, name, _, _ = registered
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")  # from code, never a pickle
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        yield mlflow.pyfunc.load_model(f"models:/{name}@champion")


@pytest.mark.slow
def test_the_champion_translates_any_upload_as_the_model_itself_does(registered, loaded, tmp_path):
    _, _, _, _, checkpoint, info = registered
    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path))
    files = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert "pyfunc_translation_code.py" in files and "checkpoint.pt" in files, local
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]

    sent = uploads()
    directions = ["a2b", "b2a", "a2b"]
    out = loaded.predict(
        [{"image": b, "direction": d} for b, d in zip(sent, directions, strict=True)]
    )
    assert list(out["request"]) == [0, 1, 2] and list(out["direction"]) == directions
    assert all(list(s) == [1, SIDE, SIDE] for s in out["shape"])
    model, _ = load_cyclegan(checkpoint)
    for b, d, got in zip(
        sent, directions, out["png"], strict=True
    ):  # the data layer's fit, then G or F
        x = decode_image(io.BytesIO(base64.b64decode(b)), 1, SIDE)  # (8, 8, 1)
        expected = model.translate(torch.from_numpy(x).permute(2, 0, 1)[None].contiguous(), d)
        diff = np.abs(pixels(got).astype(int) - expected[0, 0].numpy().astype(int))
        assert pixels(got).shape == (SIDE, SIDE) and diff.max() <= 1  # batching: last bit
    both = loaded.predict([{"image": sent[0], "direction": d} for d in ("a2b", "b2a")])
    assert both["png"][0] != both["png"][1]  # G and F are two networks


def bad_rows():
    good = uploads()[2]
    wide = png64(np.full((8, 8), 40000, np.uint16), "I;16")
    ok = {"image": good, "direction": "a2b"}
    return [
        ([{"image": "not base64!", "direction": "a2b"}], "row 0: image is not base64"),
        ([ok, {"image": base64.b64encode(b"hello").decode(), "direction": "a2b"}],
         "row 1 (image): cannot decode image: not a readable BMP, GIF, JPEG, PNG or WEBP"),
        ([ok, {"image": wide, "direction": "a2b"}], "row 1 (image): I;16 (16-bit or float)"),
        ([{"image": good, "direction": "sideways"}],
         "row 0: unknown direction 'sideways'; allowed: a2b, b2a"),
        ([ok, {"image": good}], "row 1: missing 'direction'; allowed: a2b, b2a"),
        ([ok, ok, {"direction": "b2a"}], "row 2: missing 'image' (a base64-encoded PNG)"),
        ([{"image": 7, "direction": "a2b"}], "row 0: image must be a base64-encoded PNG string"),
        ([ok] * (MAX_N + 1), f"{MAX_N + 1} images sent; at most {MAX_N} per request"),
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("rows, message", bad_rows())
def test_bad_rows_are_refused_naming_the_row(loaded, rows, message):
    with pytest.raises(MlflowException) as caught:
        loaded.predict(rows)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert message in caught.value.message, caught.value.message


def test_an_unknown_field_is_named():
    # MLflow drops columns outside the signature before predict(); the parser itself
    # refuses them (the page's /api/translate goes through it)
    from genforge.serving.pyfunc_translation import parse_translation_rows

    with pytest.raises(ValueError, match=r"row 0: unknown field\(s\) \['seed'\]"):
        parse_translation_rows([{"image": "", "direction": "a2b", "seed": 1}], 4, [1, 8, 8])


@pytest.mark.slow
def test_the_loader_serves_only_the_kind_asked_for(registered):
    from genforge.serving.loader import LoadError, load_version

    _, _, uri, name, checkpoint, _ = registered
    client = mlflow.MlflowClient(uri)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        served = load_version(client, name, "1", kind="translation")  # smoke test passed
        assert served.kind == "translation" and served.family == "cyclegan"
        assert served.describe()["directions"] == NAMES
        assert served.checkpoint_sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        with pytest.raises(LoadError, match="a translation model; this server serves generation"):
            load_version(client, name, "1", kind="generation")
    served.files.cleanup()


# ------------------------------------------------------------------ the service
class Service:
    def __init__(self, url: str, server: Server, registered):
        self.url, self.server, self.registered = url, server, registered

    def get(self, path: str):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def health(self) -> dict:
        return json.loads(self.get("/health")[1])


@pytest.fixture(scope="module")
def service(registered):
    root, params, uri, *_ = registered
    port = params.serve.port
    env = {**serve_env(uri), "OMP_NUM_THREADS": "1"}
    env.pop("GENFORGE_PARENT_RUN_ID", None)
    cmd = ["/bin/sh", "-c", f'cd "{root}" && exec "{BIN}/genforge" serve --model translation']
    server = Server("genforge serve --model translation", cmd, env, root / "serve.log", port)
    server.start(ready=lambda: http_ok(f"http://127.0.0.1:{port}/ping"), timeout=120)
    try:
        yield Service(f"http://127.0.0.1:{port}", server, registered)
    finally:
        server.stop()


@pytest.mark.integration
@pytest.mark.slow
def test_health_names_the_translation_champion(service):
    _, _, _, name, checkpoint, _ = service.registered
    health = service.health()
    assert health["status"] == "ok" and health["registered_model"] == name, health
    served = health["served"]
    assert served["version"] == "1" and served["kind"] == "translation"
    assert served["family"] == "cyclegan" and served["checkpoint_verified"] is True
    assert served["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert served["directions"] == NAMES and served["image_shape"] == [1, SIDE, SIDE]
    assert served["metrics"] == {"fid_vs_identity_mean": 0.4}


@pytest.mark.integration
@pytest.mark.slow
def test_invocations_translate_and_refuse_bad_rows_by_name(service):
    sent = uploads()
    rows = [{"image": sent[0], "direction": "a2b"}, {"image": sent[1], "direction": "b2a"}]
    status, body, headers = post(service.url + "/invocations", {"dataframe_records": rows})
    assert status == 200, body
    assert headers.get("x-genforge-version") == "1"
    predictions = body["predictions"]
    assert [p["direction"] for p in predictions] == ["a2b", "b2a"]
    assert all(p["shape"] == [1, SIDE, SIDE] for p in predictions)
    assert pixels(predictions[0]["png"]).shape == (SIDE, SIDE)

    bad = [rows[0], {"image": sent[1], "direction": "up"}]
    status, body, _ = post(service.url + "/invocations", {"dataframe_records": bad})
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", body
    assert "row 1: unknown direction 'up'; allowed: a2b, b2a" in body["message"]

    huge = {"dataframe_records": [{"image": "A" * 70_000, "direction": "a2b"}]}
    status, body, _ = post(service.url + "/invocations", huge)
    assert status == 413 and "serve.max_body_bytes" in body["message"], body


@pytest.mark.integration
@pytest.mark.slow
def test_the_page_api_translates_one_upload_and_refuses_sampling(service):
    status, info, _ = service.get("/api/info")
    info = json.loads(info)
    assert status == 200 and info["kind"] == "translation" and info["capabilities"]["translate"]
    assert info["directions"] == NAMES and info["max_body_bytes"] == 65536

    status, body, _ = post(
        service.url + "/api/translate", {"image": uploads()[0], "direction": "b2a"}
    )
    assert status == 200, body
    assert body["version"] == "1" and body["label"] == NAMES["b2a"]
    assert [pixels(png).shape for png in body["images"]] == [(SIDE, SIDE)] * 3  # in, out, back

    status, body, _ = post(service.url + "/api/translate", {"image": "%%", "direction": "a2b"})
    assert status == 400 and "image is not base64" in body["message"], body
    status, body, _ = post(service.url + "/api/translate", {"direction": "a2b", "n": 2})
    assert status == 400 and "unknown field(s) ['n']" in body["message"], body
    status, body, _ = post(service.url + "/api/generate", {"n": 2})
    assert status == 400 and "cyclegan v1 is a translation model" in body["message"], body


@pytest.mark.integration
@pytest.mark.slow
def test_the_page_has_the_upload_box(service):
    status, html, _ = service.get("/")
    html = html.decode()
    assert status == 200
    for element in ('id="translate-box"', 'id="upload" type="file"', 'id="direction"'):
        assert element in html, element
    assert 'id="generate-box"' in html  # the family controls stay, hidden for this model
    status, js, _ = service.get("/page.js")
    js = js.decode()
    assert (
        '"/api/translate"' in js and "readAsDataURL" in js and 'info.kind === "translation"' in js
    )


@pytest.mark.integration
@pytest.mark.slow
def test_the_page_uploads_and_shows_a_translation(service, chromium):  # noqa: F811
    tools = chromium
    target = tools.send("Target.createTarget", url="about:blank")["targetId"]
    session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Network"):
        tools.send(f"{domain}.enable", session)
    tools.events.clear()
    tools.send("Page.navigate", session, url=service.url + "/")
    tools.wait_for("Page.loadEventFired")
    wait_js(tools, session, "document.body.dataset.ready")
    hidden = "(id) => document.getElementById(id).hidden"
    assert evaluate(tools, session, f"({hidden})('translate-box')") is False
    assert evaluate(tools, session, f"({hidden})('generate-box')") is True
    options = evaluate(
        tools, session, "[...document.getElementById('direction').options].map(o => o.textContent)"
    )
    assert options == [f"{d}: {text}" for d, text in NAMES.items()], options
    upload = uploads()[0]  # a 16x16 RGB PNG: sent as it is
    evaluate(
        tools,
        session,
        f"""(() => {{
          const bytes = Uint8Array.from(atob({json.dumps(upload)}), (c) => c.charCodeAt(0));
          const files = new DataTransfer();
          files.items.add(new File([bytes], "digit.png", {{type: "image/png"}}));
          document.getElementById('upload').files = files.files;
          document.getElementById('direction').value = 'b2a';
          document.getElementById('translate-button').click();
        }})()""",
    )
    wait_js(tools, session, "Number(document.body.dataset.translated || 0) > 0")
    shown = images(tools, session, "#translation img")
    assert len(shown) == 3
    assert all(pixels(src.split(",", 1)[1]).shape == (SIDE, SIDE) for src in shown)
    caption = evaluate(tools, session, "document.getElementById('translation-caption').textContent")
    assert NAMES["b2a"] in caption
    tools.send("Target.closeTarget", targetId=target)
    errors = [e for e in tools.events if e.get("method") == "Runtime.exceptionThrown"]
    assert not errors, errors


@pytest.mark.integration
@pytest.mark.slow
def test_a_new_champion_is_followed(service):  # last: it moves the alias
    from genforge.serving.pyfunc_translation import log_translator_model

    _, _, uri, name, checkpoint, _ = service.registered
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        exp = mlflow.get_experiment_by_name("translation").experiment_id
        with mlflow.start_run(experiment_id=exp):
            info = log_translator_model(checkpoint, max_n=MAX_N)
        assert register(mlflow.MlflowClient(uri), name, info, checkpoint) == "2"
    finally:
        mlflow.set_tracking_uri(before)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health = service.health()
        if (health["served"] or {}).get("version") == "2":
            break
        time.sleep(0.3)
    assert health["served"]["version"] == "2" and health["swaps"] == 2, health
    rows = [{"image": uploads()[2], "direction": "a2b"}]
    status, body, headers = post(service.url + "/invocations", {"dataframe_records": rows})
    assert status == 200 and headers.get("x-genforge-version") == "2", body
