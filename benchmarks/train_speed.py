"""Training speed per family on the prepared data, measured in one run.

Usage (after `make run` or `dvc repro prepare`):
    .venv/bin/python benchmarks/train_speed.py [--steps 100] [--families gan vae]

Trains each family for `--steps` updates with its params.yaml config into a
temporary folder and prints wall time, images/s and the speed of each family
relative to the fastest. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from genforge.config import load_params, validate
from genforge.training.run import train_family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default="data/prepared")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--families", nargs="*")
    args = parser.parse_args()

    base = load_params(args.params)
    families = args.families or base.models.families
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in families:
            raw = base.model_dump()
            raw["models"][family]["steps"] = args.steps
            params = validate(raw)
            s = train_family(
                params, family, Path(args.prepared), Path(tmp) / family, progress=False
            )
            rows.append((family, s["train_seconds"], s["images_per_s"], s["params"]))
    fastest = max(r[2] for r in rows)
    print(f"\n{args.steps} steps per family, device {s['device']}")
    print(f"{'family':<10} {'seconds':>8} {'images/s':>9} {'vs fastest':>10} {'params':>10}")
    for family, secs, ips, n in rows:
        print(f"{family:<10} {secs:>8.1f} {ips:>9.0f} {ips / fastest:>10.2f} {n:>10,}")


if __name__ == "__main__":
    main()
