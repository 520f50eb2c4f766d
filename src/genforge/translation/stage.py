"""The `translate` stage: train the CycleGAN, score it, draw its grid (`genforge translate`).

One importable function, `run_translation`, called by the CLI with the validated
params and a `Layout`; no MLflow here (the registry logs the run when it registers
the candidate, as `genforge register` does for the families evaluated without
tracking). Writes, each file atomically:

    models/cyclegan/        checkpoint.pt, train_log.jsonl, train_summary.json,
                            featurizers/{A,B}/featurizer.pt (each domain's judge)
    metrics/cyclegan.json   the translation table (translation/evaluate.py) + summary
    evals/cyclegan/         translations.png (A -> G(A) -> F(G(A)), B -> F(B) -> G(F(B)))
    plots/cyclegan/         losses.json (a DVC plot: the losses against step)

With `translation.enabled: false` it writes only metrics/cyclegan.json saying so (and
empty output folders), so `dvc repro` stays a complete record either way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from genforge.config import Params
from genforge.data.atomic import tidy, write_json_atomic
from genforge.evaluation.featurizer import file_sha256
from genforge.layout import STEP_LOG, TRANSLATION, Layout
from genforge.plots import losses_plot, write_plot
from genforge.translation.domains import Domains, load_domains
from genforge.translation.evaluate import DIRECTIONS, evaluate_translation
from genforge.translation.grid import save_translation_grid
from genforge.translation.train import load_cyclegan, train_cyclegan

EMBEDDED_NAMES = {"A": "handwritten digits", "B": "typeset digits"}


def domain_names(params: Params) -> dict[str, str]:
    """What the report and the page call domains A and B."""
    if params.translation.data.source == "digits-typeset":
        return dict(EMBEDDED_NAMES)
    root = Path(params.translation.data.path or "")
    return {d: f"{root.name}/train{d}" for d in "AB"}


def data_sha256(domains: Domains) -> str:
    """One hash over both domains' train and test arrays: the candidate's data version."""
    both = f"A:{domains.data_hash('A')} B:{domains.data_hash('B')}"
    return hashlib.sha256(both.encode()).hexdigest()


def disabled(out: Layout) -> dict[str, Any]:
    metrics = {
        "family": TRANSLATION,
        "kind": "translation",
        "enabled": False,
        "reason": "translation.enabled is false in params.yaml",
    }
    for folder in (out.model_dir(TRANSLATION), out.evals(TRANSLATION)):
        folder.mkdir(parents=True, exist_ok=True)
    write_plot(out.loss_plot(TRANSLATION), [])
    write_json_atomic(out.metrics(TRANSLATION), metrics)
    return metrics


def run_translation(params: Params, out: Layout, cache_dir: Path) -> dict[str, Any]:
    """Train, evaluate and draw the translation model; returns metrics/cyclegan.json."""
    cfg = params.translation
    if not cfg.enabled:
        return disabled(out)
    domains = load_domains(cfg.data)  # DataError naming the folder or file
    model_dir = out.model_dir(TRANSLATION)
    summary = train_cyclegan(cfg.cyclegan, domains, model_dir, progress=True)
    losses_plot(model_dir / STEP_LOG, out.loss_plot(TRANSLATION))
    model, _ = load_cyclegan(out.checkpoint(TRANSLATION))  # what was written, not in memory
    table = evaluate_translation(
        model,
        domains,
        params.featurizer,
        out.domain_featurizers,
        cache_dir,
        seed=params.evaluate.seed,
    )
    names = domain_names(params)
    rows = [table[d] for d in DIRECTIONS]
    contents = [r["content_preservation"] for r in rows if r["content_preservation"] is not None]
    metrics = {
        "family": TRANSLATION,
        "kind": "translation",
        "enabled": True,
        "name": cfg.name,
        "source": cfg.data.source,
        "domains": names,
        "directions": {d: f"{names[s]} -> {names[t]}" for d, (s, t) in DIRECTIONS.items()},
        "image_shape": list(domains.image_shape),
        **table,
        "fid_vs_identity_mean": sum(r["fid_vs_identity"] for r in rows) / len(rows),
        "content_preservation_min": min(contents) if contents else None,
        "steps": summary["steps"],
        "train_seconds": summary["train_seconds"],
        "images_per_second": summary["images_per_second"],
        "generator_parameters": summary["generator_parameters"],
        "checkpoint_sha256": file_sha256(out.checkpoint(TRANSLATION)),
        "data_sha256": data_sha256(domains),
        "seed": cfg.cyclegan.seed,
    }
    out.evals(TRANSLATION).mkdir(parents=True, exist_ok=True)
    save_translation_grid(model, domains, out.translation_grid, n=cfg.grid_columns)
    metrics = tidy(metrics)
    write_json_atomic(out.metrics(TRANSLATION), metrics)
    return metrics


def summary_line(m: dict[str, Any]) -> str:
    """One line per run for the CLI: both directions' bars."""
    if not m.get("enabled"):
        return f"translation: not run ({m.get('reason')})"
    parts = []
    for d in DIRECTIONS:
        r = m[d]
        content = r["content_preservation"]
        parts.append(
            f"{m['directions'][d]}: FID {r['fid']:.3g} ({r['fid_vs_identity']:.2f}x identity), "
            f"content {'n/a' if content is None else f'{content:.3f}'}, "
            f"cycle error {r['cycle_error']:.3f}"
        )
    return f"cyclegan ({m['steps']} steps, {m['train_seconds']:.0f} s): " + "; ".join(parts)
