"""Do the GAN families collapse on a small natural-image set at their defaults?

Usage (from the repository root, after `make setup`):
    .venv/bin/python benchmarks/natural_images.py [--families gan vaegan stylegan]
        [--n 1050] [--size 16] [--parallel 2] [--keep DIR] [--data photos|digits]

The set: `n` random 32x32 crops of scikit-learn's two sample photos (data/photos.py;
offline, unlabeled, one class), written as an npz and resized by prepare to `size`
px RGB. Each family is trained and evaluated at this checkout's params.yaml defaults:
only the data section, the family list and the device (cpu) are overridden, so the
featurizer is the one a user gets on such a folder (`objective: auto` -> contrastive).
Every stage is its own `genforge` process in a scratch folder, `parallel` families at
a time (one thread each, as in the flow).

`--data digits` runs the same on the embedded digits instead (params.yaml's data
section unchanged): the check that a default chosen for photos costs the digits nothing.

Prints one row per family and the real-vs-real floor: FID, precision, recall,
density, coverage, and "collapsed" where recall or coverage is below 0.1 (the issue's
collapsed GAN had recall 0.00, coverage 0.02). The sample grids are
<scratch>/evals/<family>/samples.png (use --keep to look at them). Not a test: the
defaults train for minutes per family on a CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from scale import ROOT, run_stage

COLLAPSE = 0.1  # recall or coverage below this: the samples miss most of the data


def scratch_params(root: Path, npz: Path | None, families: list[str], size: int) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if npz is not None:
        params["data"].update(source="npz", path=str(npz), image_size=size, channels=3)
    params["models"]["families"] = families
    params["train"]["device"] = "cpu"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def train_and_evaluate(root: Path, family: str) -> dict:
    train_s, _ = run_stage(["train", "--family", family], root)
    eval_s, _ = run_stage(["evaluate", "--family", family], root)
    print(f"{family}: trained in {train_s:.0f} s, evaluated in {eval_s:.0f} s", file=sys.stderr)
    metrics = json.loads((root / "metrics" / f"{family}.json").read_text())
    return {**metrics, "train_s": train_s}


def row(name: str, m: dict) -> str:
    cells = [f"{m[k]:.3f}" if m.get(k) is not None else "-"
             for k in ("fid", "precision", "recall", "density", "coverage")]  # fmt: skip
    recall, coverage = m.get("recall"), m.get("coverage")
    collapsed = recall is not None and (recall < COLLAPSE or coverage < COLLAPSE)
    train = f"{m['train_s']:.0f}" if "train_s" in m else "-"
    return f"| {name} | " + " | ".join(cells) + f" | {train} | {'yes' if collapsed else 'no'} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["gan", "vaegan", "stylegan"])
    parser.add_argument("--n", type=int, default=1050, help="photo patches in the set")
    parser.add_argument("--size", type=int, default=16, help="data.image_size")
    parser.add_argument("--parallel", type=int, default=2, help="families trained at once")
    parser.add_argument("--keep", type=Path, help="scratch folder to keep (default: a temp one)")
    parser.add_argument("--data", choices=("photos", "digits"), default="photos")
    args = parser.parse_args()
    from genforge.data.photos import photo_patches

    with tempfile.TemporaryDirectory(prefix="genforge-natural-") as tmp:
        root = args.keep or Path(tmp)
        (root / "external").mkdir(parents=True, exist_ok=True)
        photos = args.data == "photos"
        npz = photo_patches(root / "external" / "photos.npz", n=args.n, side=32) if photos else None
        scratch_params(root, npz, args.families, args.size)
        start = time.perf_counter()
        for stage in ("ingest", "prepare", "featurize"):
            run_stage([stage], root)
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            results = dict(zip(args.families, pool.map(
                lambda f: train_and_evaluate(root, f), args.families), strict=True))  # fmt: skip
        what = f"{args.n} photo patches at {args.size} px RGB" if photos else "embedded digits"
        print(f"{what}, params.yaml defaults; {time.perf_counter() - start:.0f} s in all\n")
        print("| family | FID | precision | recall | density | coverage | train s | collapsed |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for family, m in results.items():
            print(row(family, m))
        floor = next(iter(results.values()))["reference"]["floor"]
        print(row("(floor: real test vs train)", floor))
        if args.keep:
            print(f"\ngrids: {root}/evals/<family>/samples.png")


if __name__ == "__main__":
    main()
