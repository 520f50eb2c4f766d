"""The retrain flow's closing table reads metrics files as they are, null metrics included."""

from __future__ import annotations

import json

from flows.retrain import summary


def test_null_metrics_print_as_na_after_the_metrics_were_written(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/gan.json").write_text(json.dumps({"fid": None, "recall": 0.5}))
    table = summary(str(tmp_path), ["gan", "vae"])
    assert "| gan | n/a | 0.50 | n/a | not gated |" in table
    assert "| vae | n/a | n/a | n/a | not gated |" in table
