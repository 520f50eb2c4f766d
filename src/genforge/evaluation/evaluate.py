"""`genforge evaluate --family X`: sample the EMA model, score it, write metrics/X.json.

metrics/X.json holds flat keys for the candidate (fid, fid_ci_low, fid_ci_high,
kid, kid_std, precision, recall, density, coverage, classes_covered, num_classes,
class_hist_distance, label_accuracy, c2st_accuracy, c2st_fooled, samples_per_s,
params, generator_params, bits_per_dim, bits_per_dim_n (the test images it averages),
n_samples, seed, feature_extractor, data_hash, family, checkpoint_sha256 and
checkpoint_step: the checkpoint scored) and
``reference`` = {floor, gaussian, noise} with the same metric keys (see reference.py).
The evals folder gets ``samples.png`` (the fixed-seed grid) and ``fooled.png`` (the
generated images the two-sample test found most real).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genforge.config import Params
from genforge.data.atomic import atomic_file, tidy, write_json_atomic
from genforge.evaluation.calibration import relative_metrics, with_relative
from genforge.evaluation.copying import closest_pairs
from genforge.evaluation.curve import fid_curve, write_curve
from genforge.evaluation.diversity import proportional_labels, reference_subsample
from genforge.evaluation.featurizer import file_sha256
from genforge.evaluation.reference import reference_for
from genforge.evaluation.sampling import EvaluationError, check_fits, sample_images
from genforge.evaluation.scoring import Judge, Scored, load_judge
from genforge.grids import grid_image, grid_samples
from genforge.layout import CHECKPOINT, COPIES_GRID, FOOLED_GRID, GRID
from genforge.training.checkpoint import load_checkpoint, load_model

FOOLED = 16  # images in fooled.png
COPIES = 8  # generated/train pairs in copies.png


def bits_per_dim(
    model, x: Tensor, y: Tensor, batch_size: int, max_n: int, seed: int
) -> tuple[float | None, int]:
    """The model's bits/dim on the test split (a batch-size weighted mean) and the number
    of images it averages: a seeded subset of at most `max_n` (`evaluate.bits_per_dim_max`,
    the same for every candidate), since the likelihood pass costs like a training step per
    image. (None, 0) if the model has no likelihood."""
    idx = reference_subsample(len(x), max_n, seed)  # all of it, in order, within the bound
    x, y = x[idx], y[idx]
    total, count = 0.0, 0
    with torch.no_grad():
        for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True):
            bpd = model.bits_per_dim(xb.float() / 127.5 - 1.0, yb)
            if bpd is None:
                return None, 0
            total, count = total + bpd * len(xb), count + len(xb)
    return (total / count if count else None), count


def candidate(
    model, judge: Judge, n: int, seed: int, sample_kwargs: dict | None = None
) -> tuple[dict[str, Any], Tensor, Scored]:
    """Sample and score one model; returns (candidate metrics, images, scored)."""
    check_fits(model, judge)
    cfg = judge.cfg
    labels = proportional_labels(judge.real_hist, n, seed) if model.cfg.conditional else None
    images, seconds = sample_images(model, n, labels, seed, cfg.batch_size, sample_kwargs or {})
    scored = judge.score(images, labels, seed)
    refs, _ = reference_for(judge, cfg.n_samples, cfg.seed)  # cached: the dataset's scale
    bpd, bpd_n = bits_per_dim(model, *judge.test, cfg.batch_size, cfg.bits_per_dim_max, cfg.seed)
    metrics = {
        **scored.metrics,
        **relative_metrics(scored.metrics, refs),
        "samples_per_s": n / max(seconds, 1e-9),
        "sample_seconds": seconds,
        "params": sum(p.numel() for p in model.parameters()),
        "generator_params": model.generator_parameters(),
        "bits_per_dim": bpd,
        "bits_per_dim_n": bpd_n,
        "seed": seed,
        # what fid_ci_low/high cover: resampling these N samples, not training again
        "fid_ci_covers": "sampling noise (bootstrap of the generated samples), not a retrain",
        "feature_extractor": judge.extractor.label,
        "data_hash": judge.data_hash,
        "family": getattr(model, "family", None),
    }
    return tidy(metrics), images, scored


def score_model(
    model,
    params: Params,
    prepared_dir: Path,
    featurizer_dir: Path,
    cache_dir: Path,
    n_samples: int | None = None,
    seed: int | None = None,
    sample_kwargs: dict | None = None,
) -> dict[str, Any]:
    """Candidate metrics of `model` against the current prepared data (no reference block).

    For re-scoring a champion, FID against training step and sampler sweeps; N and the
    seed default to ``evaluate.n_samples`` and ``evaluate.seed``, `sample_kwargs` go
    to ``model.sample``.
    """
    judge = load_judge(params.evaluate, prepared_dir, featurizer_dir, cache_dir)
    n = n_samples or params.evaluate.n_samples
    seed = params.evaluate.seed if seed is None else seed
    return candidate(model, judge, n, seed, sample_kwargs)[0]


def evaluate_family(
    params: Params,
    family: str,
    prepared_dir: Path,
    models_dir: Path,
    featurizer_dir: Path,
    out_path: Path,
    cache_dir: Path,
    evals_dir: Path | None = None,
    curve_path: Path | None = None,
) -> dict[str, Any]:
    """Score models/<family>'s EMA weights; write `out_path` (into `evals_dir` the sample
    grids, and to `curve_path` the FID-vs-step curve of the training snapshots)."""
    cfg = params.evaluate
    judge = load_judge(cfg, prepared_dir, featurizer_dir, cache_dir)
    path = Path(models_dir) / family / CHECKPOINT
    state = load_checkpoint(path)  # a missing or foreign file: a clear error first
    digest = file_sha256(path)  # registration refuses any other checkpoint (issue 18 item 2)
    trained_on = state.get("data_hash")
    if trained_on != judge.data_hash:
        raise EvaluationError(
            f"{path} was trained on data {str(trained_on)[:12]}, but {prepared_dir} holds "
            f"{judge.data_hash[:12]}; retrain it (`dvc repro`)"
        )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(path, map_location=device)
    if file_sha256(path) != digest:  # replaced while loading: these would be its numbers
        raise EvaluationError(f"{path} changed while it was loaded; evaluate again")
    metrics, images, scored = candidate(model, judge, cfg.n_samples, cfg.seed)
    reference, _ = reference_for(judge, cfg.n_samples, cfg.seed)
    metrics = {**metrics, "family": family, "reference": tidy(with_relative(reference))}
    metrics.update(checkpoint_sha256=digest, checkpoint_step=int(state["step"]))
    if evals_dir is not None:
        write_images(Path(evals_dir), model, images, scored, judge)
    if curve_path is not None:
        curve = fid_curve(model, path.parent, judge, cfg.curve_samples, cfg.seed)
        write_curve(Path(curve_path), curve)
    write_json_atomic(Path(out_path), metrics)
    return metrics


def num(value: Any, spec: str) -> str:
    """`value` formatted by `spec`, or "n/a" for a metric that is missing or not finite
    (tidy() writes NaN as null: a diverged model's metrics must still print)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return format(value, spec) if ok else "n/a"


def summary_line(m: dict[str, Any]) -> str:
    """One line for the CLI: the candidate's main numbers beside the reference FIDs."""
    ref = m.get("reference") or {}
    refs = ", ".join(
        f"{k} {num((ref.get(k) or {}).get('fid'), '.3g')}"
        for k in ("floor", "blur", "gaussian")
        if k in ref
    )
    ci = (
        f" [{num(m.get('fid_ci_low'), '.3g')}, {num(m.get('fid_ci_high'), '.3g')}]"
        if m.get("fid_ci_low") is not None
        else ""
    )
    return (
        f"{m['family']}: FID {num(m.get('fid'), '.3g')}{ci} ({refs}; on this data's scale "
        f"{num(m.get('fid_rel'), '.3g')}), KID {num(m.get('kid'), '.3g')}, "
        f"precision {num(m.get('precision'), '.2f')}, recall {num(m.get('recall'), '.2f')}, "
        f"coverage {num(m.get('coverage'), '.2f')}, "
        f"classes {m.get('classes_covered')}/{m.get('num_classes')}, "
        f"C2ST accuracy {num(m.get('c2st_accuracy'), '.2f')}, "
        f"copying {num(m.get('copying'), '.2f')}, N={m.get('n_samples')}"
    )


def write_images(evals_dir: Path, model, images: Tensor, scored: Scored, judge: Judge) -> None:
    """samples.png (fixed-seed grid), fooled.png (up to 16 most-real-looking samples) and
    copies.png (the 8 generated samples closest to a training image, each above it)."""
    evals_dir.mkdir(parents=True, exist_ok=True)
    most_real = torch.from_numpy(scored.p_real).argsort(descending=True)[:FOOLED]
    gen_i, train_i = closest_pairs(scored.features, judge.train_features, COPIES)
    pairs = torch.cat([images[gen_i], judge.train[0][train_i]])  # row 1 generated, row 2 train
    with torch.no_grad():
        grid = grid_samples(model, seed=0)
    for name, img in (
        (GRID, grid_image(grid)),
        (FOOLED_GRID, grid_image(images[most_real])),
        (COPIES_GRID, grid_image(pairs, nrow=len(gen_i))),
    ):
        with atomic_file(evals_dir / name) as tmp:
            img.save(tmp)
