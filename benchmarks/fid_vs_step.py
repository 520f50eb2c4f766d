"""FID against training step for several families past the default budget, and where they cross.

Usage (in a repository where `make run` has prepared the data and the featurizer):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fid_vs_step.py --families gan stylegan \
        --steps 4500 --every 500 [--samples 1000] [--out DIR] [--parallel]

Trains each family from scratch with params.yaml's settings but `steps` and
`train.sample_every` overridden (so the learning-rate schedules, if any, stretch to the
longer run), into DIR/<family> (default: a temporary folder), then scores every EMA
snapshot with the evaluate stage's own curve code (`evaluation.curve.fid_curve`: the
domain featurizer, `--samples` samples, the evaluation seed). Prints one row per step
with each family's FID and train seconds, and the first step at which the first family's
FID is at or below the second's. With `--parallel` the families train at once, one
process each (one thread each, as the flow runs them). Not a test: run by hand.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

import torch

from genforge.config import load_params, validate
from genforge.evaluation.evaluate import evaluate_family
from genforge.layout import Layout
from genforge.plots import read_plot
from genforge.training.run import train_family


def longer(params_path: Path, family: str, steps: int, every: int, samples: int):
    raw = load_params(params_path).model_dump(mode="json")
    raw["models"][family]["steps"] = steps
    raw["train"]["sample_every"] = every
    raw["train"]["checkpoint_every"] = max(every, raw["train"]["checkpoint_every"])
    raw["evaluate"]["curve_samples"] = samples
    return validate(raw)


def run_family(args: tuple) -> dict:
    family, params_path, steps, every, samples, out = args
    torch.set_num_threads(1)
    params = longer(Path(params_path), family, steps, every, samples)
    layout = Layout(Path("."))
    start = time.perf_counter()
    summary = train_family(params, family, layout.prepared, Path(out) / family, progress=False)
    curve_path = Path(out) / f"{family}.fid_vs_step.json"
    evaluate_family(
        params, family, layout.prepared, Path(out), layout.featurizer,
        Path(out) / f"{family}.metrics.json", Path(params.evaluate.cache_dir),
        curve_path=curve_path,
    )  # fmt: skip
    return {
        "family": family,
        "train_seconds": summary["train_seconds"],
        "wall_seconds": round(time.perf_counter() - start, 1),
        "curve": read_plot(curve_path),
    }


def crossing(a: list[dict], b: list[dict]) -> int | None:
    """The first step at which curve `a`'s FID is at or below curve `b`'s."""
    fb = {p["step"]: p["fid"] for p in b}
    for p in sorted(a, key=lambda p: p["step"]):
        if p["step"] in fb and p["fid"] <= fb[p["step"]]:
            return p["step"]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=["gan", "stylegan"])
    ap.add_argument("--steps", type=int, default=4500)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--parallel", action="store_true")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="fid-vs-step-"))
    jobs = [
        (f, str(args.params), args.steps, args.every, args.samples, str(out)) for f in args.families
    ]
    if args.parallel:
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            results = pool.map(run_family, jobs)
    else:
        results = [run_family(j) for j in jobs]
    (out / "fid_vs_step.json").write_text(json.dumps(results, indent=1))
    curves = {r["family"]: {p["step"]: p["fid"] for p in r["curve"]} for r in results}
    steps = sorted({s for c in curves.values() for s in c})
    print(f"FID (N = {args.samples}, domain featurizer) against training step; out: {out}")
    print("| step | " + " | ".join(curves) + " |")
    print("|---:|" + "---:|" * len(curves))
    for s in steps:
        print(
            f"| {s} | " + " | ".join(f"{curves[f].get(s, float('nan')):.2f}" for f in curves) + " |"
        )
    print("train seconds: " + ", ".join(f"{r['family']} {r['train_seconds']:.0f}" for r in results))
    if len(results) >= 2:
        a, b = results[1], results[0]
        step = crossing(a["curve"], b["curve"])
        where = f"from step {step}" if step else f"not within {args.steps} steps"
        print(f"{a['family']} reaches {b['family']}'s FID {where}")


if __name__ == "__main__":
    main()
