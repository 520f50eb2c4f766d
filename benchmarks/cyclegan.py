"""CycleGAN on the embedded handwritten <-> typeset digits at the default budget: the issue's bars.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cyclegan.py [--steps N] [--seed S]
        [--out DIR] [--set key=value ...]

Trains `CycleGanConfig` (its defaults, or `--steps` / `--set base_channels=16` ...) on
`DomainsConfig()` (16 px grey, 1,797 handwritten digits vs 1,800 typeset ones, 80/20
split), then scores it with `evaluate_translation` (each domain's own featurizer at the
`featurizer` section's defaults) and prints, both ways: translation FID vs the
identity baseline's FID (the untranslated images) and the floor, content preservation
vs the identity baseline's, cycle error, and the train seconds. Bars (issue 14):
content preservation >= 0.9 both ways, FID <= 0.5 x the identity baseline's both
ways. Writes DIR/table.json, DIR/grid.png and the run's checkpoint and log in DIR.
Not a test: times depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from genforge.config import FeaturizerConfig
from genforge.data.atomic import write_json_atomic
from genforge.layout import CHECKPOINT
from genforge.translation.domains import DomainsConfig, load_domains
from genforge.translation.evaluate import evaluate_translation
from genforge.translation.grid import save_translation_grid
from genforge.translation.train import CycleGanConfig, load_cyclegan, train_cyclegan

CONTENT_BAR, FID_RATIO_BAR = 0.9, 0.5


def parse_sets(pairs: list[str]) -> dict:
    """``key=value`` overrides of CycleGanConfig, values read as JSON (numbers, booleans)."""
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = json.loads(value)
    return out


def table_lines(table: dict, train_seconds: float) -> list[str]:
    head = "| direction | FID | identity FID | FID / identity | floor FID | content | identity content | cycle error |"
    lines = [head, "|" + " --- |" * 8]
    for direction, name in (("a2b", "G: hand -> type"), ("b2a", "F: type -> hand")):
        r = table[direction]
        lines.append(
            f"| {name} | {r['fid']:.2f} | {r['identity_fid']:.2f} | {r['fid_vs_identity']:.3f} | "
            f"{r['floor_fid']:.2f} | {r['content_preservation']:.3f} | "
            f"{r['identity_content_preservation']:.3f} | {r['cycle_error']:.4f} |"
        )
    lines.append(f"train seconds: {train_seconds:.0f}")
    for direction in ("a2b", "b2a"):
        r = table[direction]
        ok_c = r["content_preservation"] >= CONTENT_BAR
        ok_f = r["fid_vs_identity"] <= FID_RATIO_BAR
        lines.append(
            f"{direction}: content {r['content_preservation']:.3f} >= {CONTENT_BAR}: "
            f"{'pass' if ok_c else 'MISS'}; FID/identity {r['fid_vs_identity']:.3f} <= "
            f"{FID_RATIO_BAR}: {'pass' if ok_f else 'MISS'}"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(1)
    overrides = {"seed": args.seed, **parse_sets(args.set)}
    if args.steps:
        overrides["steps"] = args.steps
    cfg = CycleGanConfig(**overrides)
    out = args.out or Path(tempfile.mkdtemp(prefix="cyclegan-bench-"))
    domains = load_domains(DomainsConfig())
    print(f"config: {cfg.model_dump()}\nout: {out}", flush=True)
    summary = train_cyclegan(cfg, domains, out)
    model, _ = load_cyclegan(out / CHECKPOINT)
    t0 = time.perf_counter()
    table = evaluate_translation(
        model, domains, FeaturizerConfig(), out / "featurizers", out / "fidelity-cache"
    )
    table["train"] = summary
    table["eval_seconds"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(out / "table.json", table)
    save_translation_grid(model, domains, out / "grid.png", n=10)
    print("\n".join(table_lines(table, summary["train_seconds"])))


if __name__ == "__main__":
    main()
