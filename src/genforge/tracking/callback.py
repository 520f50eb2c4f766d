"""MlflowCallback: the trainer's hooks, logged into the family's child run.

Per logged step: every loss and images/s (`train/<name>`, with the step). Every
`train.sample_every` steps and at the end: the EMA sample grid as an image with its
step (`log_image(..., step=...)`), so the MLflow UI shows training progress. At the
end: the training summary. A tracking hiccup in the middle of a long training run
warns once and stops logging; it never kills the run (the checkpoint is what counts,
and `genforge register` logs the evaluation later).
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from genforge.grids import grid_image, grid_samples


class MlflowCallback:
    """Trainer callback logging to run `run_id` through an `mlflow.MlflowClient`."""

    def __init__(self, client: Any, run_id: str, family: str):
        self.client = client
        self.run_id = run_id
        self.family = family
        self.logged_grid_steps: set[int] = set()
        self.broken = False

    def _safely(self, what: str, fn, *args: Any, **kwargs: Any) -> None:
        if self.broken:
            return
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # the tracking store, not the training, failed
            self.broken = True
            print(
                f"warning: {self.family}: MLflow logging stopped at {what} "
                f"({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "training continues",
                file=sys.stderr,
            )

    def on_step(self, step: int, record: dict[str, float]) -> None:
        """Losses and throughput of one logged step."""
        from mlflow.entities import Metric

        stamp = _now_ms()
        metrics = [
            Metric(f"train/{k}", float(v), stamp, step)
            for k, v in record.items()
            if k != "step" and isinstance(v, int | float)
        ]
        self._safely(f"step {step}", self.client.log_batch, self.run_id, metrics=metrics)

    def on_samples(self, step: int, images: torch.Tensor) -> None:
        """The EMA sample grid at `step` (uint8 NCHW) as a step-indexed MLflow image."""
        self._log_grid(step, images)

    def on_model(self, step: int, ema_model) -> None:
        """The final grid: the trainer calls on_samples only before the last step."""
        if step in self.logged_grid_steps or self.broken:
            return
        was_training = ema_model.training
        ema_model.eval()
        with torch.no_grad():
            images = grid_samples(ema_model, seed=0)
        ema_model.train(was_training)
        self._log_grid(step, images)

    def on_end(self, summary: dict[str, Any]) -> None:
        """The training summary: numbers as metrics, the whole dict as JSON."""
        numbers = {
            f"train_summary/{k}": float(v)
            for k, v in summary.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        self._safely(
            "the summary", self.client.log_dict, self.run_id, summary, "train/train_summary.json"
        )
        from mlflow.entities import Metric

        stamp = _now_ms()
        step = int(summary.get("steps", 0))
        metrics = [Metric(k, v, stamp, step) for k, v in numbers.items()]
        self._safely("the summary", self.client.log_batch, self.run_id, metrics=metrics)

    def _log_grid(self, step: int, images: torch.Tensor) -> None:
        self.logged_grid_steps.add(step)
        img = grid_image(images.cpu())
        self._safely(
            f"the grid of step {step}",
            self.client.log_image,
            self.run_id,
            img,
            key="samples",
            step=step,
        )


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
