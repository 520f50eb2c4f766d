"""Training progress a person can follow, on a terminal and in a log file.

On a terminal: a tqdm bar. Several families train at once in separate processes
sharing the terminal, so each bar takes the line `GENFORGE_PROGRESS_SLOT` names (the
flow sets it per family) instead of all overwriting line 0. Anywhere else (a log file,
CI, Prefect's captured output) tqdm's carriage returns would flood the log, so one
plain line is printed every `every` steps instead:

    gan: step 300/1500 (20%), 412 img/s, loss_d 0.52, loss_g 1.9, about 58 s left
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

SLOT_ENV = "GENFORGE_PROGRESS_SLOT"
LINES = 10  # plain lines per run when not on a terminal (plus the last step)


def _slot() -> int | None:
    value = os.environ.get(SLOT_ENV, "")
    return int(value) if value.isdigit() else None


class Progress:
    """`update(step, record)` after each step; `close()` at the end (or on an error)."""

    def __init__(
        self,
        family: str,
        total: int,
        initial: int,
        enabled: bool = True,
        stream: TextIO | None = None,
    ):
        self.family, self.total, self.enabled = family, total, enabled
        self.stream = stream or sys.stderr
        self.every = max(1, (total - initial) // LINES)
        self.start, self.initial, self.last = time.perf_counter(), initial, initial
        self.record: dict[str, Any] = {}  # the last logged losses, for the plain lines
        self.bar = (
            tqdm(
                total=total,
                initial=initial,
                desc=family,
                position=_slot(),
                leave=True,
                mininterval=1.0,
                dynamic_ncols=True,
                file=self.stream,
            )
            if enabled and self.stream.isatty()
            else None
        )

    def update(self, step: int, record: dict[str, Any] | None = None) -> None:
        """Step `step` is done; `record` (losses, images/s) when it was logged."""
        if self.bar is not None:
            if record:
                shown = {k: f"{v:.3g}" for k, v in record.items() if k != "step"}
                self.bar.set_postfix(shown, refresh=False)
            self.bar.update(step - self.bar.n)
            return
        if record:
            self.record = record
        due = step - self.last >= self.every or step == self.total
        if self.enabled and due:
            self.last = step
            print(self.line(step, self.record), file=self.stream, flush=True)

    def line(self, step: int, record: dict[str, Any]) -> str:
        """One plain progress line: step, share, images/s, losses, time left."""
        done = step - self.initial
        elapsed = time.perf_counter() - self.start
        left = elapsed / done * (self.total - step) if done else float("nan")
        parts = [f"{self.family}: step {step}/{self.total} ({100 * step // self.total}%)"]
        if "images_per_s" in record:
            parts.append(f"{record['images_per_s']:.0f} img/s")
        parts += [
            f"{k} {v:.3g}"
            for k, v in record.items()
            if k not in ("step", "images_per_s") and isinstance(v, int | float)
        ]
        if step < self.total and left == left:
            parts.append(f"about {left:.0f} s left")
        return ", ".join(parts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
