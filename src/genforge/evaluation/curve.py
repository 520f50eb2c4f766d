"""`FidCurve`: a training callback that records FID against the training step.

The trainer calls ``on_model(step, ema_model)`` every ``train.sample_every`` steps
and at the end; each call samples ``evaluate.curve_samples`` images from the EMA
model (fixed seed, so points differ only by the weights) and appends
``{"step", "fid", "n_samples"}`` to a JSONL file for the report's FID-vs-step figure.
The real statistics come from the evaluation cache, so a point costs one small
sampling and one feature pass. FID with few samples is biased upwards: compare
points of one curve, not a curve point with metrics/<family>.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from genforge.config import Params
from genforge.evaluation.diversity import proportional_labels
from genforge.evaluation.evaluate import check_fits, sample_images
from genforge.evaluation.scoring import load_judge


class FidCurve:
    """Append FID points of the EMA model to `out_path` (JSON lines).

    Args:
        params: validated params (``evaluate`` section: curve_samples, seed, batch size).
        prepared_dir, featurizer_dir, cache_dir: as for `evaluate_family`.
        out_path: the JSONL file. Lines from an earlier run at or after the first
            step seen here are dropped, so a fresh or resumed run leaves one line per step.
        n_samples: samples per point (default ``evaluate.curve_samples``).
    """

    def __init__(
        self,
        params: Params,
        prepared_dir: Path,
        featurizer_dir: Path,
        cache_dir: Path,
        out_path: Path,
        n_samples: int | None = None,
    ):
        cfg = params.evaluate
        self.judge = load_judge(cfg, prepared_dir, featurizer_dir, cache_dir)
        self.n = n_samples or cfg.curve_samples
        self.seed = cfg.seed
        self.out_path = Path(out_path)
        self._started = False

    def on_model(self, step: int, ema_model) -> None:
        """Sample the EMA model, compute FID against the cached train statistics, append."""
        check_fits(ema_model, self.judge)
        labels = None
        if ema_model.cfg.conditional:
            labels = proportional_labels(self.judge.real_hist, self.n, self.seed)
        images, _ = sample_images(
            ema_model, self.n, labels, self.seed, self.judge.cfg.batch_size, {}
        )
        point = {"step": step, "fid": self.judge.fid(images, self.seed), "n_samples": self.n}
        if not self._started:
            self._truncate(step)
            self._started = True
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        with self.out_path.open("a") as f:
            f.write(json.dumps(point) + "\n")

    def _truncate(self, step: int) -> None:
        """Keep only earlier runs' points before `step` (a resumed run's history)."""
        if not self.out_path.is_file():
            return
        kept = [
            line
            for line in self.out_path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", step) < step
        ]
        self.out_path.write_text("".join(f"{line}\n" for line in kept))


def read_curve(path: Path) -> list[dict]:
    """The points of a curve file, in file order."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
