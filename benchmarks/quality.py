"""Model quality per family beside the real-vs-real floor and the two baselines.

Usage (after `dvc repro evaluate`, or `genforge evaluate --family X` for some X):
    .venv/bin/python benchmarks/quality.py [--metrics metrics] [--cache-speedup]

Prints one row per metrics/<family>.json and one per reference point (floor,
per-pixel Gaussian, uniform noise), with FID also as a multiple of the Gaussian
baseline's. `--cache-speedup` times the reference statistics computed from scratch
(a fresh cache folder) against the same call answered from the cache. Not a test:
numbers depend on the models and the machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from genforge.config import load_params

COLUMNS = (
    ("fid", "FID", "{:.3g}"),
    ("fid_ci", "FID 95% CI", "{}"),
    ("fid_x_gauss", "FID/gauss", "{:.3f}"),
    ("kid", "KID", "{:.3g}"),
    ("precision", "prec", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
    ("density", "density", "{:.3f}"),
    ("coverage", "cover", "{:.3f}"),
    ("classes", "classes", "{}"),
    ("class_hist_distance", "hist TV", "{:.3f}"),
    ("label_accuracy", "label acc", "{:.3f}"),
    ("c2st_accuracy", "C2ST acc", "{:.3f}"),
    ("c2st_fooled", "fooled", "{:.3f}"),
    ("n_samples", "N", "{}"),
    ("samples_per_s", "img/s", "{:.0f}"),
)


def row(name: str, m: dict, gauss_fid: float) -> list[str]:
    m = dict(m)
    low, high = m.get("fid_ci_low"), m.get("fid_ci_high")
    m["fid_ci"] = f"[{low:.3g}, {high:.3g}]" if low is not None else None
    m["fid_x_gauss"] = m["fid"] / gauss_fid if gauss_fid else None
    m["classes"] = f"{m['classes_covered']}/{m['num_classes']}"
    cells = [fmt.format(m[k]) if m.get(k) is not None else "-" for k, _, fmt in COLUMNS]
    return [name, *cells]


def table(metrics_dir: Path, families: list[str]) -> str:
    found = {f: json.loads((metrics_dir / f"{f}.json").read_text()) for f in families
             if (metrics_dir / f"{f}.json").is_file()}  # fmt: skip
    if not found:
        return f"no metrics in {metrics_dir}/ for {', '.join(families)}; run `dvc repro evaluate`"
    reference = next(iter(found.values()))["reference"]
    gauss = reference["gaussian"]["fid"]
    rows = [row(f, m, gauss) for f, m in sorted(found.items(), key=lambda kv: kv[1]["fid"])]
    rows += [row(f"({k})", reference[k], gauss) for k in ("floor", "gaussian", "noise")]
    header = ["family", *(title for _, title, _ in COLUMNS)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    extractor = next(iter(found.values()))["feature_extractor"]
    return "\n".join([*lines, f"features: {extractor}; FID/gauss = FID / Gaussian baseline FID"])


def cache_speedup(params_path: str, prepared: Path, featurizer: Path) -> str:
    """Seconds for the reference points from scratch vs from the cache, in one run."""
    from genforge.evaluation.reference import reference_for
    from genforge.evaluation.scoring import load_judge

    cfg = load_params(params_path).evaluate
    with tempfile.TemporaryDirectory() as cache:
        times = []
        for _ in range(2):
            judge = load_judge(cfg, prepared, featurizer, Path(cache))
            start = time.perf_counter()
            _, hit = reference_for(judge, cfg.n_samples, cfg.seed)
            times.append((time.perf_counter() - start, hit))
    (cold, _), (warm, hit) = times
    assert hit, "the second call should have been a cache hit"
    return (
        f"reference points (floor, gaussian, noise; N={cfg.n_samples}): from scratch {cold:.2f} s, "
        f"from the cache {warm * 1000:.1f} ms: {cold / max(warm, 1e-9):.0f}x faster"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics", type=Path)
    parser.add_argument("--prepared", default="data/prepared", type=Path)
    parser.add_argument("--featurizer", default="models/featurizer", type=Path)
    parser.add_argument("--cache-speedup", action="store_true")
    args = parser.parse_args()
    print(table(args.metrics, list(load_params(args.params).models.families)))
    if args.cache_speedup:
        print(cache_speedup(args.params, args.prepared, args.featurizer))


if __name__ == "__main__":
    main()
