"""What a running `genforge serve` reports, for the retrain flow's summary.

After a promotion the flow asks `serve.url`'s /health which version it serves, waiting
up to `serve.swap_wait_s` for the swap (the service polls the registry every
`serve.poll_s` and loads the new champion in the background).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from genforge.config import Params


def health(url: str, timeout: float = 5) -> dict[str, Any] | None:
    """The service's /health (also when it answers 503), or None when unreachable."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def wait_for_version(url: str, version: str, timeout_s: float) -> tuple[dict | None, float]:
    """Poll /health until it serves `version` or `timeout_s` passes; (last health, seconds)."""
    start = time.monotonic()
    while True:
        seen = health(url)
        served = ((seen or {}).get("served") or {}).get("version")
        waited = time.monotonic() - start
        if served == str(version) or waited >= timeout_s:
            return seen, waited
        time.sleep(min(1.0, max(timeout_s - waited, 0.05)))


def deployment_line(params: Params, gate_report: dict[str, Any]) -> str:
    """One summary line: the version the configured service serves now ('' if none is
    configured); after a promotion it waits for the swap, up to serve.swap_wait_s."""
    url = params.serve.url
    if not url:
        return ""
    champion = (gate_report.get("champion") or {}).get("version")
    wait = params.serve.swap_wait_s if gate_report.get("promoted") and champion else 0
    seen, waited = wait_for_version(url, champion or "", wait)
    if seen is None:
        return f"serving: {url} did not answer /health"
    served = seen.get("served") or {}
    line = f"serving: {url} reports v{served.get('version')} ({served.get('family')})"
    if champion and served.get("version") == str(champion):
        return line + ", the champion" + (f" (swapped within {waited:.0f} s)" if wait else "")
    failed = seen.get("failed_newer_champion")
    line += f", not champion v{champion} after {waited:.0f} s"
    return line + (f"; it refused v{failed['version']}: {failed['error']}" if failed else "")
