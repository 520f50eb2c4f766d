"""Peak memory and time per pipeline stage on 6k, 20k and 60k 32x32 RGB images.

Usage (from the repository root, after `make setup`):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scale.py [--sizes 6000 20000 60000]
        [--family vae] [--steps 20] [--keep DIR]

For each size it draws that many images of the procedural `shapes` source (5 shapes x
4 colours, 32x32 RGB; data/shapes.py), writes them as an npz file, and runs the stages
a user's own npz goes through, each as its own `genforge` process in a scratch folder
(this checkout's params.yaml, overridden for the npz, a few training steps of one
family and a short featurizer whose calibration is recorded, not required):

    ingest -> prepare -> featurize -> train --family F -> evaluate --family F

The peak RSS of each process is read from os.wait4 (ru_maxrss of that child alone).
Prints one markdown table: seconds and peak RSS per stage and size, then the goal
check (peak RSS <= 4 GB at the largest size). Evaluation keeps its defaults
(n_samples 1,000, reference_max 10,000, bits_per_dim_max 2,000), so its sampling,
k-NN metrics and bits/dim cost the same at every size; FID/KID use the whole train
split (statistics cached by featurize). Not a test: the 60k run takes several minutes
on one core.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ["circle", "square", "triangle", "cross", "ring"]
COLOURS = ["red", "green", "blue", "yellow"]
GOAL_GB = 4.0


def make_dataset(path: Path, n: int, seed: int = 0) -> int:
    """Write about `n` 32x32 RGB shapes images (20 classes) to `path`; return the count."""
    from genforge.config import ShapesConfig
    from genforge.data.npz import save_npz
    from genforge.data.shapes import make_shapes

    per_class = -(-n // (len(SHAPES) * len(COLOURS)))
    cfg = ShapesConfig(shapes=SHAPES, colours=COLOURS, per_class=per_class, canvas=32)
    data = make_shapes(cfg, seed=seed)
    save_npz(path, x=data.x, y=data.y, class_names=data.class_names)
    return len(data.y)


def scratch_params(root: Path, npz: Path, family: str, steps: int) -> Path:
    """This checkout's params.yaml with the benchmark's overrides, written into `root`."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="npz", path=str(npz), image_size=32, channels=3)
    params["models"]["families"] = [family]
    params["models"][family]["steps"] = steps
    params["train"].update(device="cpu", checkpoint_every=steps, sample_every=steps)
    params["featurizer"].update(steps=200, min_test_accuracy=0.0, calibration_required=False)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run_stage(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run `genforge *args` in `cwd`; return (seconds, peak RSS in GB) of that process."""
    genforge = Path(sys.executable).parent / "genforge"
    env = {
        **os.environ,
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log_path = cwd / ("_".join(a.lstrip("-") for a in args) + ".log")  # train_family_gan.log
    log = open(log_path, "wb")  # noqa: SIM115 (closed below)
    start = time.perf_counter()
    proc = subprocess.Popen([str(genforge), *args], cwd=cwd, env=env, stdout=log, stderr=log)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"`genforge {' '.join(args)}` failed in {cwd}:\n" + "\n".join(tail))
    return seconds, usage.ru_maxrss / 1024**2  # KiB on Linux


def run_size(root: Path, n: int, family: str, steps: int) -> tuple[int, dict[str, tuple]]:
    """Make the data set of `n` images under `root` and run every stage on it."""
    root.mkdir(parents=True)
    npz = root / "external" / "shapes.npz"
    npz.parent.mkdir()
    count = make_dataset(npz, n)
    scratch_params(root, npz, family, steps)
    rows = {}
    for args in (["ingest"], ["prepare"], ["featurize"]):
        rows[args[0]] = run_stage(args, root)
    for step in ("train", "evaluate"):
        rows[step] = run_stage([step, "--family", family], root)
    return count, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 20000, 60000])
    parser.add_argument("--family", default="vae", help="the one family trained")
    parser.add_argument("--steps", type=int, default=20, help="its training steps")
    parser.add_argument("--keep", type=Path, help="scratch folder to keep (default: a temp one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genforge-scale-") as tmp:
        base = args.keep or Path(tmp)
        results = {}
        for n in args.sizes:
            results[n] = run_size(base / f"n{n}", n, args.family, args.steps)
            done = ", ".join(f"{k} {s:.1f} s {gb:.2f} GB" for k, (s, gb) in results[n][1].items())
            print(f"{results[n][0]} images: {done}", file=sys.stderr, flush=True)  # as it goes
    stages = list(next(iter(results.values()))[1])
    print(f"{args.family}, {args.steps} steps; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
          f"; {os.cpu_count()} CPUs\n")  # fmt: skip
    print("| stage | " + " | ".join(f"{c} images: s / peak RSS GB" for c, _ in results.values())
          + " |\n|---|" + "---:|" * len(results))  # fmt: skip
    for stage in stages:
        cells = [f"{rows[stage][0]:.1f} / {rows[stage][1]:.2f}" for _, rows in results.values()]
        print(f"| {stage} | " + " | ".join(cells) + " |")
    largest = max(results)
    peak = max(rss for _, rss in results[largest][1].values())
    verdict = "meets" if peak <= GOAL_GB else "misses"
    print(f"\npeak RSS at {results[largest][0]} images: {peak:.2f} GB ({verdict} <= {GOAL_GB} GB)")


if __name__ == "__main__":
    main()
