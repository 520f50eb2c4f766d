"""Inference time per family and device, and diffusion quality against sampler steps.

Timing samples a fixed number of images after a small warm-up call (first calls pay
for allocation and kernel selection). The sweep scores diffusion samples drawn with
each sampler setting through the evaluation's `score_model`, the same metrics as
table 3, on fewer samples (`report.sweep_samples`; FID is biased upwards by small n).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from genforge.config import Params
from genforge.layout import Layout
from genforge.report.load import NA


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_sampling(model, device: str, n: int, seed: int = 0) -> dict[str, float]:
    """Images/s and ms/image of `model.sample(n)` on `device` (the model is moved there)."""
    dev = torch.device(device)
    model = model.to(dev).eval()
    gen = torch.Generator().manual_seed(seed)
    model.sample(min(2, n), generator=gen)  # warm-up
    _sync(dev)
    start = time.perf_counter()
    model.sample(n, generator=gen)
    _sync(dev)
    seconds = time.perf_counter() - start
    model.to("cpu")
    return {"images_per_s": n / seconds, "ms_per_image": 1000 * seconds / n, "n": n}


def measure_speed(model, n: int) -> dict[str, Any]:
    """Timings on the CPU and, when one is present, on the GPU."""
    out: dict[str, Any] = {"cpu": time_sampling(model, "cpu", n)}
    if torch.cuda.is_available():
        out["cuda"] = time_sampling(model, "cuda", n)
        out["cuda"]["name"] = torch.cuda.get_device_name(0)
    else:
        out["cuda"] = NA("no GPU on this machine")
    return out


def sweep_setting(setting: int | str, timesteps: int) -> dict[str, Any] | NA:
    """`sample` keyword arguments for one sweep entry, or NA when it cannot run."""
    if setting == "ancestral":
        return {"sampler": "ancestral", "steps": timesteps}
    if setting > timesteps:
        return NA(f"DDIM {setting} steps > the model's {timesteps} timesteps")
    return {"sampler": "ddim", "steps": int(setting), "eta": 0.0}


def score_fn():
    """The evaluation's `score_model`, or NA when the evaluation package is missing."""
    try:
        from genforge.evaluation.evaluate import score_model
    except ImportError as exc:
        return NA(f"genforge.evaluation is not importable ({exc})")
    return score_model


def diffusion_sweep(model, params: Params, layout: Layout, scorer=None) -> list[dict] | NA:
    """Score the diffusion model once per `report.diffusion_sweep` setting.

    Returns one row per setting: label, sampler, steps, FID, KID, precision, recall,
    images/s (sampling inside the scorer) or the reason it could not run.
    """
    settings = {
        "ancestral" if s == "ancestral" else f"DDIM {s}": sweep_setting(
            s, model.diffusion.timesteps
        )
        for s in params.report.diffusion_sweep
    }
    return score_settings(model, params, layout, settings, scorer)


def truncation_sweep(model, params: Params, layout: Layout, scorer=None) -> list[dict] | NA:
    """Score a model that offers truncation once per `report.truncation_psi` (table 5c):
    fidelity should rise and diversity fall as psi goes down (1812.04948 sec. 4)."""
    settings = {f"psi {psi:g}": model.truncation(psi) for psi in params.report.truncation_psi}
    return score_settings(model, params, layout, settings, scorer)


def score_settings(
    model, params: Params, layout: Layout, settings: dict[str, dict | NA], scorer=None
) -> list[dict] | NA:
    """One row per sampling setting (label -> `sample` keyword arguments, or the NA why it
    cannot run): the setting, its arguments, FID, KID, precision, recall, coverage,
    images/s and seconds, each from `report.sweep_samples` samples through the Judge."""
    scorer = scorer or score_fn()
    if isinstance(scorer, NA):
        return scorer
    if not layout.featurizer.exists():
        return NA(f"no featurizer at {layout.featurizer} (run the featurizer stage)")
    rows = []
    keys = ("fid", "kid", "precision", "recall", "coverage", "samples_per_s")
    for label, kwargs in settings.items():
        if isinstance(kwargs, NA):
            rows.append({"setting": label, "error": kwargs})
            continue
        start = time.perf_counter()
        print(f"report: scoring {label} ({params.report.sweep_samples} samples)", flush=True)
        scores = scorer(
            model,
            params,
            layout.prepared,
            layout.featurizer,
            Path(layout.root) / params.evaluate.cache_dir,
            n_samples=params.report.sweep_samples,
            seed=params.evaluate.seed,
            sample_kwargs=kwargs,
        )
        rows.append(
            {
                "setting": label,
                **kwargs,
                "seconds": time.perf_counter() - start,
                **{k: scores.get(k) for k in keys},
                "n_samples": params.report.sweep_samples,
            }
        )
    return rows
