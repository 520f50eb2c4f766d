"""FID against the training step, from the EMA snapshots training leaves behind.

Training writes the EMA weights every ``train.sample_every`` steps and at the end
(``models/<family>/snapshots/``, see `training.checkpoint.EmaSnapshots`); the evaluate
stage scores each with ``evaluate.curve_samples`` samples (fixed seed, so the points
differ only by the weights) and writes ``plots/<family>/fid_vs_step.json``, a JSON
array of ``{"step", "fid", "n_samples"}`` (a DVC plot of the evaluate stage, and the
report's FID-vs-step figure).
Training therefore needs neither the featurizer nor this code. The real statistics
come from the evaluation cache, so a point costs one small sampling and one feature
pass. FID with few samples is biased upwards: compare the points of one curve, not a
curve point with metrics/<family>.json.
"""

from __future__ import annotations

from pathlib import Path

from genforge.evaluation.diversity import proportional_labels
from genforge.evaluation.sampling import check_fits, sample_images
from genforge.evaluation.scoring import Judge
from genforge.plots import read_plot, write_plot
from genforge.training.checkpoint import load_snapshots


def fid_curve(model, model_dir: Path, judge: Judge, n: int, seed: int) -> list[dict]:
    """One FID point per snapshot in `model_dir`, loaded into `model` in turn (its
    weights are left at the last snapshot's). Empty when training left no snapshots."""
    check_fits(model, judge)
    labels = proportional_labels(judge.real_hist, n, seed) if model.cfg.conditional else None
    points = []
    for step, weights in load_snapshots(model_dir):
        model.load_state_dict(weights)
        images, _ = sample_images(model, n, labels, seed, judge.cfg.batch_size, {})
        points.append({"step": step, "fid": judge.fid(images, seed), "n_samples": n})
    return points


def write_curve(path: Path, points: list[dict]) -> None:
    """A JSON array of records: the format DVC plots read (genforge.plots)."""
    write_plot(Path(path), points)


def read_curve(path: Path) -> list[dict]:
    """The points of a curve file, in file order."""
    return read_plot(Path(path))
