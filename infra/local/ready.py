"""Wait until a stack service answers: `ready.py NAME URL SECONDS [POOL]` (exit 1 on timeout).

An HTTP answer of any status counts (the S3 root is 403 without credentials); with
POOL, the Prefect API must list a worker polling that work pool.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True  # the server is up, it just refused this anonymous request
    except OSError:
        return False


def worker_online(api: str, pool: str) -> bool:
    request = urllib.request.Request(
        f"{api}/work_pools/{pool}/workers/filter",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return any(w.get("status") == "ONLINE" for w in json.load(response))
    except OSError:
        return False


def main(name: str, url: str, seconds: str, pool: str | None = None) -> int:
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        if worker_online(url, pool) if pool else answers(url):
            print(f"{name}: ready")
            return 0
        time.sleep(0.5)
    print(f"{name}: not ready after {seconds} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
