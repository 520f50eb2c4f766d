"""The retrain flow's closing table reads metrics files as they are, null metrics included."""

from __future__ import annotations

import json

from flows.summary import summary


def test_null_metrics_print_as_na_after_the_metrics_were_written(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/gan.json").write_text(json.dumps({"fid": None, "recall": 0.5}))
    table = summary(str(tmp_path), ["gan", "vae"])
    assert "| gan | n/a | 0.50 | n/a | not gated |" in table
    assert "| vae | n/a | n/a | n/a | not gated |" in table


def test_the_translation_is_summarised_under_the_table(tmp_path):
    (tmp_path / "metrics").mkdir()
    rows = {
        d: {"fid": 2.0, "fid_vs_identity": 0.25, "content_preservation": 0.8}
        for d in ("a2b", "b2a")
    }
    metrics = {
        "enabled": True,
        "name": "digits2typeset",
        "directions": {"a2b": "A -> B", "b2a": "B -> A"},
    }
    (tmp_path / "metrics/cyclegan.json").write_text(json.dumps({**metrics, **rows}))
    gate = {"registered_model": "genforge-digits2typeset", "champion": None,
            "candidate": {"passed": False, "reasons": ["A -> B: content preservation 0.800 < 0.9"]}}  # fmt: skip
    (tmp_path / "gate").mkdir()
    (tmp_path / "gate/translation.json").write_text(json.dumps(gate))
    table = summary(str(tmp_path), ["gan"])
    assert "translation (cyclegan, genforge-digits2typeset): failed: A -> B: content" in table
    assert "  champion: none" in table
    assert (
        "  A -> B: FID 2.00 (0.25x the untranslated images'), content preservation 0.800" in table
    )
    (tmp_path / "metrics/cyclegan.json").write_text(json.dumps({"enabled": False}))
    assert "translation" not in summary(str(tmp_path), ["gan"])
