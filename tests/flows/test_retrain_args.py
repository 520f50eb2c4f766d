"""`retrain`'s arguments are checked before any work: 0 training slots waited forever."""

from __future__ import annotations

import pytest
from flows.retrain import main, retrain

from genforge.errors import GenforgeError


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_max_parallel_below_one_is_a_usage_error(value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # nothing here to run on, should it get that far
    with pytest.raises(SystemExit) as exit_:
        main(["--max-parallel", value])
    assert exit_.value.code == 2
    assert f"--max-parallel: must be an integer >= 1, got '{value}'" in capsys.readouterr().err


def test_the_flow_refuses_max_parallel_0_before_any_work(tmp_path):
    """A deployment's parameters skip the command line: the flow checks too."""
    with pytest.raises(GenforgeError, match="max_parallel must be an integer >= 1, got 0"):
        retrain.fn(repo=str(tmp_path), max_parallel=0)
    assert list(tmp_path.iterdir()) == []
