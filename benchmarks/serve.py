"""`genforge serve` on tiny models: latency, throughput, memory, swap time, and
/invocations against `mlflow models serve`, all measured in one run.

Usage (from the repository root, after `make setup`):
    .venv/bin/python benchmarks/serve.py [--steps 30] [--requests 20]

Trains every family for `--steps` steps on the tiny shapes data (8x8 RGB, 4 classes,
class-conditional), registers them through the pipeline's gate on a real `mlflow
server` on loopback, starts `genforge serve` as a process and measures:

- latency p50/p95 of a 16-image request per family (/api/generate, version by number);
- throughput of 8 concurrent clients on /invocations (16 images each), images/s;
- peak RSS of the service process (VmHWM);
- promotion to first response: from the alias move to the first /invocations answer
  by the new version (the service polls every serve.poll_s = 1 s here);
- /invocations of genforge serve / `mlflow models serve` on the same request (p50 ratio).
Not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' server helpers

from tests.conftest import tiny_family, tiny_params  # noqa: E402
from tests.storage.servers import BIN, Server, free_port, http_ok  # noqa: E402
from tests.tracking.helpers import mlflow_server, project, serve_env, write_metrics  # noqa: E402

FAMILIES = ["gan", "vae", "diffusion", "pixelcnn", "vaegan"]
N = 16


def post(url: str, payload: dict) -> tuple[float, dict, dict]:
    """(seconds, body, headers) of one POST; raises on an HTTP error."""
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as r:
        body, headers = json.loads(r.read()), dict(r.headers)
    return time.perf_counter() - start, body, headers


def percentiles(times: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(times, n=20, method="inclusive")
    return statistics.median(times), q[18]  # p50, p95


def latency(url: str, payload: dict, requests: int) -> list[float]:
    post(url, payload)  # warm-up: loads the version, first-call costs
    return [post(url, payload)[0] for _ in range(requests)]


def throughput(url: str, clients: int, per_client: int) -> float:
    """Images per second with `clients` threads posting back to back."""
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            for j in range(per_client):
                post(url, {"dataframe_records": [{"n": N, "seed": 1000 * i + j}]})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]!r}")
    return clients * per_client * N / (time.perf_counter() - start)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def setup(base: Path, steps: int, mlflow_url: str):
    """Train, evaluate-by-fiat and register every family; returns (root, params, versions)."""
    from genforge.data.ingest import ingest
    from genforge.data.prepare import prepare
    from genforge.registry.promote import connect, register_and_promote
    from genforge.training.run import train_family

    models = {f: tiny_family(f, conditional=True, steps=steps) for f in FAMILIES}
    params = tiny_params(
        FAMILIES,
        models=models,
        tracking={"registered_model_prefix": "bench", "serve_max_n": N},
        serve={"poll_s": 1.0, "max_images": N, "max_concurrent": 2, "max_queue": 16},
    )
    ingest(params.data, base / "raw")
    prepare(params.data, base / "raw", base / "prepared")
    ckpts = {}
    for f in FAMILIES:
        train_family(params, f, base / "prepared", base / "models" / f, progress=False)
        ckpts[f] = base / "models" / f / "checkpoint.pt"
    root = project(base / "project", base / "prepared", ckpts)
    (root / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json")))
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_url
    for i, f in enumerate(FAMILIES):  # gan the best: it becomes the champion
        write_metrics(root, f, fid=3.0 + i)

    def no_rescore(mv):
        raise AssertionError("no champion yet")

    register_and_promote(params, FAMILIES, root, rescore=no_rescore)
    _, reg = connect(params, root)
    return root, params, {f: reg.latest(f).version for f in FAMILIES}


def start(name: str, cmd: list[str], env: dict, log: Path, port: int) -> Server:
    server = Server(name, cmd, env, log, port)
    return server.start(ready=lambda: http_ok(f"http://127.0.0.1:{port}/ping"), timeout=300)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps per family")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per case")
    args = parser.parse_args(argv)
    from genforge.registry.promote import promote

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="genforge-bench-serve-") as tmp:
        base = Path(tmp)
        with mlflow_server(base / "mlflow") as mlflow_url:
            root, params, versions = setup(base, args.steps, mlflow_url)
            env = {**serve_env(mlflow_url), "OMP_NUM_THREADS": "1"}
            port = free_port()
            cmd = ["/bin/sh", "-c", f'cd "{root}" && exec "{BIN}/genforge" serve --port {port}']
            ours = start("genforge serve", cmd, env, root / "serve.log", port)
            url = f"http://127.0.0.1:{port}"
            try:
                for f in FAMILIES:
                    payload = {"n": N, "seed": 0, "version": versions[f]}
                    p50, p95 = percentiles(latency(url + "/api/generate", payload, args.requests))
                    rows.append(
                        (
                            f"{f}: 16-image request p50 / p95",
                            f"{p50 * 1e3:.0f} / {p95 * 1e3:.0f} ms",
                        )
                    )
                ips = throughput(
                    url + "/invocations", clients=8, per_client=max(2, args.requests // 4)
                )
                rows.append(
                    ("throughput, 8 clients, champion gan (/invocations)", f"{ips:.0f} images/s")
                )

                same = {"dataframe_records": [{"n": N, "seed": 7, "label": 1}]}
                ours_t = latency(url + "/invocations", same, args.requests)
                mport = free_port()
                mcmd = [
                    str(BIN / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    "models:/bench-shapes@champion",
                ]
                mcmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(mport)]
                theirs = start("mlflow models serve", mcmd, env, root / "mlflow-serve.log", mport)
                try:
                    theirs_t = latency(f"http://127.0.0.1:{mport}/invocations", same, args.requests)
                    a = post(url + "/invocations", same)[1]
                    b = post(f"http://127.0.0.1:{mport}/invocations", same)[1]
                finally:
                    theirs.stop()
                rows.append(
                    (
                        "/invocations p50: genforge serve / mlflow models serve",
                        f"{statistics.median(ours_t) * 1e3:.0f} / {statistics.median(theirs_t) * 1e3:.0f} ms"
                        f" = {statistics.median(ours_t) / statistics.median(theirs_t):.2f}"
                        f" (same answer: {a == b})",
                    )
                )

                before = time.perf_counter()
                promote(params, root, family="diffusion", force=True, reason="benchmark swap")
                moved = time.perf_counter()
                while True:
                    _, _, headers = post(url + "/invocations", {"inputs": {"n": 1}})
                    if headers.get("x-genforge-version") == versions["diffusion"]:
                        break
                done = time.perf_counter()
                rows.append(
                    (
                        "promotion -> first response by the new version",
                        f"{done - moved:.1f} s (poll_s 1; alias moves took {moved - before:.1f} s)",
                    )
                )
                rows.append(
                    ("peak RSS of genforge serve", f"{peak_rss_mib(ours.proc.pid):.0f} MiB")
                )
            finally:
                ours.stop()
    width = max(len(k) for k, _ in rows)
    print(f"\ngenforge serve on tiny models ({args.steps} steps, 8x8 RGB, {os.cpu_count()} CPUs):")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
