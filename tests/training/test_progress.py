"""Progress outside a terminal is a few plain lines, never tqdm's carriage returns."""

from __future__ import annotations

import io

from genforge.training.progress import LINES, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_one_plain_line_per_tenth_of_the_run():
    out = io.StringIO()
    bar = Progress("gan", 200, 0, stream=out)
    for step in range(1, 201):
        bar.update(
            step, {"step": step, "loss_d": 0.5, "images_per_s": 400.0} if step % 5 == 0 else None
        )
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == LINES and "\r" not in out.getvalue()
    assert lines[0].startswith("gan: step 20/200 (10%), 400 img/s, loss_d 0.5, about ")
    assert lines[-1] == "gan: step 200/200 (100%), 400 img/s, loss_d 0.5"


def test_a_resumed_run_counts_from_its_checkpoint_and_disabled_prints_nothing():
    out = io.StringIO()
    bar = Progress("vae", 100, 90, stream=out)
    for step in range(91, 101):
        bar.update(step)
    assert out.getvalue().splitlines()[-1] == "vae: step 100/100 (100%)"
    quiet = io.StringIO()
    off = Progress("vae", 100, 0, enabled=False, stream=quiet)
    for step in range(1, 101):
        off.update(step)
    assert quiet.getvalue() == ""


def test_a_terminal_gets_a_bar_on_the_line_of_its_slot(monkeypatch):
    monkeypatch.setenv("GENFORGE_PROGRESS_SLOT", "2")
    out = Terminal()
    bar = Progress("diffusion", 10, 0, stream=out)
    assert bar.bar is not None and bar.bar.pos in (2, -2)
    for step in range(1, 11):
        bar.update(step, {"step": step, "loss": 0.1})
    bar.close()
    assert "diffusion" in out.getvalue() and "10/10" in out.getvalue()
