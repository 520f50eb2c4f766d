"""The report's translation parts: table 11, the cyclegan rows of tables 1, 2 and 10, and
the translation grid, from metrics/cyclegan.json in the contract's shape; "not available"
with the reason when the file is missing or says the translation is disabled.

Most tests build the report over a bare tree (no data, no families trained): only the
translation's files are there, so only they can fill the tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from genforge.grids import png_bytes
from genforge.layout import STEP_LOG, TRANSLATION, Layout
from genforge.report.build import build_report
from genforge.report.tables_translation import GRID_ROWS, LABEL
from tests.report.conftest import report_params

A2B, B2A = "handwritten digits -> typeset digits", "typeset digits -> handwritten digits"


def direction(fid: float, identity: float, content: float | None) -> dict:
    """One row of translation/evaluate.py's evaluate_translation."""
    return {
        "fid": fid,
        "kid": fid / 100,
        "kid_std": 0.001,
        "identity_fid": identity,
        "identity_kid": identity / 100,
        "floor_fid": 0.4,
        "floor_kid": 0.002,
        "fid_vs_identity": fid / identity,
        "cycle_error": 0.05,
        "content_preservation": content,
        "identity_content_preservation": None if content is None else 0.2,
        "target_classifier_accuracy": None if content is None else 0.99,
        "n_source": 40,
        "n_reference": 200,
    }


def cyclegan_metrics(a2b=(4.0, 16.0, 0.95), b2a=(6.0, 20.0, 0.92), labelled=True) -> dict:
    """metrics/cyclegan.json as the contract (notes/translation_contract.md) writes it."""
    rows = {"a2b": direction(*a2b), "b2a": direction(*b2a)}
    contents = [r["content_preservation"] for r in rows.values()]
    return {
        "family": "cyclegan",
        "kind": "translation",
        "enabled": True,
        "name": "digits2typeset",
        "source": "digits-typeset",
        "domains": {"A": "handwritten digits", "B": "typeset digits"},
        "directions": {"a2b": A2B, "b2a": B2A},
        "labelled": labelled,
        "image_shape": [1, 16, 16],
        **rows,
        "fid_vs_identity_mean": (rows["a2b"]["fid_vs_identity"] + rows["b2a"]["fid_vs_identity"])
        / 2,
        "content_preservation_min": min(contents) if labelled else None,
        "steps": 12,
        "train_seconds": 3.5,
        "images_per_second": 27.4,
        "generator_parameters": 123_456,
        "checkpoint_sha256": "ab" * 32,
        "data_sha256": "cd" * 32,
        "seed": 0,
    }


def write_translation(root: Path, metrics: dict, gate: dict | None = None) -> bytes:
    """metrics/cyclegan.json, its grid, training log and checkpoint (and a gate verdict);
    returns the grid's PNG bytes."""
    out = Layout(root)
    out.metrics(TRANSLATION).parent.mkdir(parents=True, exist_ok=True)
    out.metrics(TRANSLATION).write_text(json.dumps(metrics))
    rng = np.random.default_rng(0)
    png = png_bytes(Image.fromarray(rng.integers(0, 255, (6 * 18, 4 * 18), dtype=np.uint8)))
    out.translation_grid.parent.mkdir(parents=True, exist_ok=True)
    out.translation_grid.write_bytes(png)
    out.model_dir(TRANSLATION).mkdir(parents=True, exist_ok=True)
    log = [{"step": s, "lr": 2e-4, "loss_g": 3.0 - s / 8, "seconds": s / 4} for s in (4, 8, 12)]
    (out.model_dir(TRANSLATION) / STEP_LOG).write_text("".join(json.dumps(r) + "\n" for r in log))
    out.checkpoint(TRANSLATION).write_bytes(b"\0" * 2**20)
    if gate is not None:
        out.translation_gate.parent.mkdir(parents=True, exist_ok=True)
        out.translation_gate.write_text(json.dumps(gate))
    return png


def build(root: Path, families=("gan",)) -> tuple[dict, str, str]:
    summary = build_report(report_params(models={"families": list(families)}), root)
    out = Layout(root)
    html = (out.reports / "index.html").read_text()
    md = (out.reports / "report.md").read_text()
    return {t["number"]: t for t in summary["tables"]} | {"figures": summary["figures"]}, html, md


def by_label(table: dict) -> dict[str, list]:
    return {row[0]: row for row in table["rows"]}


def test_translation_table_rows_and_grid_in_every_output(tmp_path):
    png = write_translation(
        tmp_path,
        cyclegan_metrics(),
        gate={"candidate": {"passed": True, "forced": False, "reasons": []}},
    )
    tables, html, md = build(tmp_path)
    t11 = tables["11"]
    assert t11["title"] == "Image-to-image translation (CycleGAN)" and t11["unavailable"] is None
    assert "content preservation >= 0.9" in t11["note"] and "0.5 x the identity" in t11["note"]
    rows = by_label(t11)
    assert list(rows) == [A2B, B2A]
    # direction, FID, identity FID, FID / identity, floor, KID, content, identity content,
    # cycle error, gate
    assert rows[A2B] == [A2B, 4.0, 16.0, 0.25, 0.4, 0.04, 0.95, 0.2, 0.05, "passed"]
    assert rows[B2A][1:4] == [6.0, 20.0, 0.3] and rows[B2A][-1] == "passed"
    assert (
        "digits2typeset (digits-typeset)" in t11["caption"]
        and "12 training steps" in t11["caption"]
    )

    # table 1: the mean FID with a note (another scale), the bars as strengths, the verdict
    row1 = by_label(tables["1"])[LABEL]
    assert row1[1]["value"] == 5.0 and "not the families' scale" in row1[1]["note"]
    assert row1[2] == row1[3] == row1[4] and "family measures" in row1[2]["not_available"]
    assert "FID <= 0.5 x identity both ways (worst 0.30)" in row1[5]
    assert "content preserved >= 0.9 both ways (min 0.92)" in row1[5]
    assert row1[6] == "—" and row1[7] == "passed"
    assert by_label(tables["2"])[LABEL][1] == 123_456 and by_label(tables["2"])[LABEL][3] == 1.0
    row10 = by_label(tables["10"])[LABEL]
    assert row10[1:4] == [12, 3.5, 27.4] and row10[6:8] == ["loss_g", 1.5]
    assert row10[8] > 0 and row10[9] == "no"

    # the grid: copied into figures/, embedded in the page, its six rows named
    assert tables["figures"]["translations"] == "ok"
    assert (Layout(tmp_path).reports / "figures" / "translations.png").read_bytes() == png
    assert '<figure id="fig-translations"><img alt="Translations: digits2typeset"' in html
    assert "](figures/translations.png)" in md
    assert "Rows, top to bottom: A: test images of A (handwritten digits); G(A): " in md
    for label in GRID_ROWS:
        assert f"{label}: " in md
    # rendered: the table in both formats, the note line after it
    assert "## Table 11: Image-to-image translation (CycleGAN)" in md
    assert f"| {A2B} | 4 | 16 | 0.25 | 0.4 | 0.04 | 0.95 | 0.2 | 0.05 | passed |" in md
    assert re.search(rf"\| {re.escape(LABEL)} \| 5 \[(\d+)\] \| n/a \[(\d+)\] \| n/a \[\2\] \|", md)
    assert "Note: Bars (the translation.gate defaults): content preservation >= 0.9" in md
    assert '<section id="table-11"><h2>Table 11: Image-to-image translation (CycleGAN)</h2>' in html
    assert '<a href="#table-11">11. Image-to-image translation (CycleGAN)</a>' in html
    assert (
        re.search(r"<td>5<sup>\d+</sup></td>", html)
        and "<b>Note:</b> Bars (the translation.gate defaults)" in html
    )


def test_the_grid_rows_are_the_translation_stage_rows():
    from genforge.translation.grid import ROWS

    assert GRID_ROWS == ROWS


def test_a_failed_gate_and_missed_bars_show_their_reasons(tmp_path):
    metrics = cyclegan_metrics(a2b=(4.0, 16.0, 0.95), b2a=(12.0, 20.0, 0.7))
    gate = {"candidate": {"passed": False, "reasons": ["b2a content 0.7 < 0.9"]}}
    write_translation(tmp_path, metrics, gate)
    tables, _, md = build(tmp_path)
    rows = by_label(tables["11"])
    assert rows[B2A][-1] == rows[A2B][-1] == "failed: b2a content 0.7 < 0.9"
    row1 = by_label(tables["1"])[LABEL]
    assert row1[5] == "—" and row1[7] == "failed: b2a content 0.7 < 0.9"
    assert row1[6] == "FID / identity 0.60 > 0.5 (b2a), content preserved 0.70 < 0.9 (b2a)"

    # a verdict on another checkpoint is not this model's
    write_translation(
        tmp_path, metrics, {"candidate": {"passed": True, "checkpoint_sha256": "ef" * 32}}
    )
    tables, _, _ = build(tmp_path)
    stale = by_label(tables["11"])[A2B][-1]["not_available"]
    assert stale.endswith(f"judged checkpoint {'ef' * 6}, not the current {'ab' * 6}")


def test_no_gate_and_unlabelled_domains_are_not_available(tmp_path):
    write_translation(
        tmp_path, cyclegan_metrics(a2b=(4, 16, None), b2a=(6, 20, None), labelled=False)
    )
    tables, html, _ = build(tmp_path)
    row = by_label(tables["11"])[A2B]
    assert "unlabelled domains" in row[6]["not_available"] and row[7] == row[6]
    assert "translation.json is missing" in row[-1]["not_available"]
    assert by_label(tables["1"])[LABEL][5] == "FID <= 0.5 x identity both ways (worst 0.30)"
    assert "translation gate report" in html


def test_missing_metrics_say_not_available_and_add_no_rows(tmp_path):
    tables, html, md = build(tmp_path)
    t11 = tables["11"]
    assert t11["rows"] == [] and t11["unavailable"].endswith("metrics/cyclegan.json is missing")
    assert "translation metrics (written by the `translate` stage)" in t11["unavailable"]
    assert "## Table 11: Image-to-image translation (CycleGAN)" in md
    assert (
        "Not available: translation metrics" in md and "Not available: translation metrics" in html
    )
    assert "content preservation >= 0.9" in t11["note"]  # the bars stand without a model
    assert "metrics/cyclegan.json is missing" in tables["figures"]["translations"]
    for n in ("1", "2", "10"):
        assert LABEL not in by_label(tables[n])


def test_a_disabled_translation_gives_its_reason_and_hides_stale_files(tmp_path):
    write_translation(tmp_path, cyclegan_metrics())  # an earlier enabled run's grid and log
    disabled = {"family": "cyclegan", "kind": "translation", "enabled": False,
                "reason": "translation.enabled is false"}  # fmt: skip
    Layout(tmp_path).metrics(TRANSLATION).write_text(json.dumps(disabled))
    tables, html, md = build(tmp_path)
    reason = tables["11"]["unavailable"]
    assert reason.startswith("the translation model is disabled: translation.enabled is false")
    assert f"Not available: {reason}" in md
    assert "translation.enabled is false" in tables["figures"]["translations"]
    assert 'fig-translations" class="na"' in html
    assert not (Layout(tmp_path).reports / "figures" / "translations.png").exists()
    assert LABEL not in by_label(tables["1"]) and LABEL not in by_label(tables["10"])


def test_the_translation_row_stays_out_of_the_families_rankings(tree):
    """Beside trained families: its (lower) FID is on another scale, so gan keeps 'best
    fidelity' and the families' rows are unchanged; the row comes after them."""
    write_translation(tree, cyclegan_metrics(a2b=(0.5, 16.0, 0.95), b2a=(0.5, 20.0, 0.95)))
    tables, _, _ = build(tree, families=("gan", "vae"))
    comparison = by_label(tables["1"])
    assert list(comparison)[-1] == LABEL and comparison[LABEL][1]["value"] == 0.5
    assert "best fidelity" in comparison["gan"][5] and "worst fidelity" in comparison["vae ★"][6]
    assert "cyclegan (translation) row" in tables["1"]["caption"]
