"""reports/index.html opened in headless Chromium: no console errors, every image
decoded, no request beyond the file itself and its data: URIs.

Driven over the DevTools protocol (a websocket) so console messages, exceptions,
network requests and the images' decoded sizes are observed, not guessed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from genforge.report.build import build_report
from tests.report.conftest import report_params

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",  # Chromium picks a free port and writes DevToolsActivePort
]
IMAGES_JS = """JSON.stringify({
  images: [...document.images].map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0})),
  tables: document.querySelectorAll('h2').length,
})"""


class DevTools:
    """A minimal DevTools client: numbered commands, events collected while waiting."""

    def __init__(self, url: str):
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=None, open_timeout=20)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(
                json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            )


def browser_url(profile: Path, proc: subprocess.Popen, timeout: float = 30) -> str:
    """The browser's websocket URL from DevToolsActivePort (port, then path)."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.is_file() and len(port_file.read_text().split()) == 2:
            port, path = port_file.read_text().split()
            return f"ws://127.0.0.1:{port}{path}"
        if proc.poll() is not None:
            raise RuntimeError(
                f"chromium exited with {proc.returncode}: {proc.stderr.read()[-2000:]}"
            )
        time.sleep(0.1)
    raise RuntimeError("chromium wrote no DevToolsActivePort within 30 s")


@pytest.fixture
def chromium(tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"no browser: {CHROMIUM} is not installed (apt-get install -y chromium; .ci/run does)"
        )
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield DevTools(browser_url(profile, proc))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def load(chromium: DevTools, page: str) -> dict:
    """Open `page` in a fresh tab; return its console errors, requests and image states."""
    target = chromium.send("Target.createTarget", url="about:blank")["targetId"]
    session = chromium.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        chromium.send(f"{domain}.enable", session)
    chromium.events.clear()
    chromium.send("Page.navigate", session, url=page)
    chromium.wait_for("Page.loadEventFired")
    result = chromium.send("Runtime.evaluate", session, expression=IMAGES_JS, returnByValue=True)
    state = json.loads(result["result"]["value"])
    chromium.send("Target.closeTarget", targetId=target)

    def params(method: str) -> list[dict]:
        return [e["params"] for e in chromium.events if e.get("method") == method]

    errors = [
        p["exceptionDetails"].get("exception", {}).get("description")
        or p["exceptionDetails"]["text"]
        for p in params("Runtime.exceptionThrown")
    ]
    errors += [
        str(p["args"])
        for p in params("Runtime.consoleAPICalled")
        if p["type"] in ("error", "assert")
    ]
    errors += [
        p["entry"]["text"] for p in params("Log.entryAdded") if p["entry"]["level"] == "error"
    ]
    return {
        "errors": errors,
        "requests": [p["request"]["url"] for p in params("Network.requestWillBeSent")],
        "failed": params("Network.loadingFailed"),
        "images": state["images"],
        "sections": state["tables"],
    }


def test_report_renders_in_chromium(tree, chromium, tmp_path):
    build_report(report_params(), tree)
    index = tree / "reports" / "index.html"
    seen = load(chromium, index.resolve().as_uri())
    assert not seen["errors"], seen["errors"]
    assert not [u for u in seen["requests"] if not u.startswith(("file:", "data:"))], seen[
        "requests"
    ]
    assert not seen["failed"], seen["failed"]
    assert len(seen["images"]) == index.read_text().count("<img ") >= 18
    assert all(i["ok"] for i in seen["images"]), [i["alt"] for i in seen["images"] if not i["ok"]]
    assert seen["sections"] == 15  # tables 1-11 with 3b, 5b and 5c, and the analyses

    # The same checks catch a broken image and a script error (they are not vacuous).
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img alt="broken" src="data:image/png;base64,AAAA">'
        "<script>console.error('boom'); undefinedCall();</script></body></html>"
    )
    seen = load(chromium, bad.as_uri())
    assert [i["ok"] for i in seen["images"]] == [False]
    assert any("boom" in e for e in seen["errors"]) and any(
        "undefinedCall" in e for e in seen["errors"]
    )
