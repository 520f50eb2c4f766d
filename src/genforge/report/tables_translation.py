"""Table 11, the translation model (CycleGAN), its rows in tables 1, 2 and 10, and its grid.

Everything comes from files (metrics/cyclegan.json in the shape translation/evaluate.py
documents, evals/cyclegan/translations.png, gate/translation.json), so the report stage
imports no translation code and dvc.yaml's report deps stay as they are. A missing or
disabled translation leaves tables 1, 2 and 10 as they were and table 11 "not available"
with the reason.

Its FIDs are judged by each target domain's own featurizer against that domain's train
split: their own scale, not the families' (tables 1-4). Table 1 therefore shows the mean
of the two directions with a note saying so, and its family-only columns are n/a.
"""

from __future__ import annotations

import statistics
from typing import Any

from genforge.layout import STEP_LOG, TRANSLATION
from genforge.registry.verdicts import verdict_text
from genforge.report.figures import Figure
from genforge.report.load import NA, ReportInputs, available
from genforge.report.tables import Noted, Table, loss_spread

CONTENT_MIN = (
    0.9  # the bars (translation.gate defaults), both directions: content preservation >= 0.9
)
FID_VS_IDENTITY_MAX = 0.5  # and translation FID <= 0.5 x the identity baseline's FID
# Copied from genforge.translation.grid ROWS (tests/report/test_translation_report.py
# checks they match; importing it would pull torch and the model into the report stage)
GRID_ROWS = ("A", "G(A)", "F(G(A))", "B", "F(B)", "G(F(B))")
MAIN_LOSS = "loss_g"  # translation/cyclegan.py's generator loss: adversarial + cycle + identity
DIRECTIONS = ("a2b", "b2a")
LABEL = f"{TRANSLATION} (translation)"
BARS = (
    f"content preservation >= {CONTENT_MIN} and translation FID <= {FID_VS_IDENTITY_MAX} x "
    "the identity baseline's FID, both ways (a2b and b2a)"
)


def _value(inputs: ReportInputs, direction: str, key: str) -> Any:
    """metrics/cyclegan.json's `direction`.`key`, or NA naming why it is missing."""
    m = inputs.translation.metrics
    if not available(m):
        return m
    row = m.get(direction)
    if not isinstance(row, dict):
        return NA(f"{inputs.layout.metrics(TRANSLATION)} has no {direction!r} row")
    value = row.get(key)
    if value is None and "content_preservation" in key and m.get("labelled") is False:
        return NA("unlabelled domains: content preservation needs the same class names in both")
    return (
        NA(f"{inputs.layout.metrics(TRANSLATION)} has no {direction}.{key}")
        if value is None
        else value
    )


def _top(inputs: ReportInputs, key: str) -> Any:
    value = inputs.translation.metrics.get(key)
    return NA(f"{inputs.layout.metrics(TRANSLATION)} has no {key!r}") if value is None else value


def gate_verdict(inputs: ReportInputs) -> str | NA:
    """The translation gate's verdict in words (verdict_text), or NA saying why there is none.

    gate/translation.json (registry/translation.py) holds it under "candidate"; one for
    another checkpoint than metrics/cyclegan.json's is NA."""
    gate, path = inputs.translation.gate, inputs.layout.translation_gate
    if not available(gate):
        return gate
    v = gate.get("candidate")
    if not isinstance(v, dict) or "passed" not in v:
        return NA(f"{path} holds no verdict (no 'passed')")
    judged = v.get("checkpoint_sha256") or gate.get("checkpoint_sha256")
    m = inputs.translation.metrics
    current = m.get("checkpoint_sha256") if available(m) else None
    if judged and current and judged != current:
        return NA(f"{path} judged checkpoint {judged[:12]}, not the current {current[:12]}")
    return verdict_text(v)


def table_translation(inputs: ReportInputs) -> Table:
    """Table 11: one row per direction, the translation beside its baselines."""
    cols = ["direction", "FID", "identity FID", "FID / identity", "floor FID", "KID",
            "content preserved", "identity content", "cycle error", "gate"]  # fmt: skip
    title = "Image-to-image translation (CycleGAN)"
    caption = (
        "Unpaired translation between two domains: G maps A to B, F maps B to A. Per "
        "direction: FID of the translated test images against the target domain's train split, "
        "judged by the target domain's own featurizer (its own scale: not comparable with "
        "tables 1-4); the identity baseline is the untranslated source images under the same "
        "judge, the floor the target's real test images; KID the same as FID with a kernel; "
        "content preserved is the share of translations the target classifier gives the "
        "source image's class (identity: the same for the untranslated images); cycle error "
        "the mean |F(G(a)) - a| on [0, 1] pixels."
    )
    note = f"Bars (the translation.gate defaults): {BARS}."
    m = inputs.translation.metrics
    if not available(m):
        return Table("11", title, caption, cols, unavailable=m.reason, note=note)
    domains, names = m.get("domains") or {}, m.get("directions") or {}
    caption += (
        f" {m.get('name', '?')} ({m.get('source', '?')}): A = {domains.get('A', '?')}, "
        f"B = {domains.get('B', '?')}, images {'x'.join(map(str, m.get('image_shape') or []))}, "
        f"{m.get('steps', '?')} training steps, n = {_value(inputs, 'a2b', 'n_source')} (A) and "
        f"{_value(inputs, 'b2a', 'n_source')} (B) test images."
    )
    keys = ("fid", "identity_fid", "fid_vs_identity", "floor_fid", "kid",
            "content_preservation", "identity_content_preservation", "cycle_error")  # fmt: skip
    verdict = gate_verdict(inputs)
    rows = [[names.get(d, d), *(_value(inputs, d, k) for k in keys), verdict] for d in DIRECTIONS]
    return Table("11", title, caption, cols, rows, figures=["translations"], note=note)


def _bars(inputs: ReportInputs) -> tuple[list[str], list[str]]:
    """(bars met, bars missed) in words, worst direction first."""
    met, missed = [], []
    ratios = {d: _value(inputs, d, "fid_vs_identity") for d in DIRECTIONS}
    if all(isinstance(r, int | float) for r in ratios.values()):
        worst = max(ratios, key=ratios.get)
        if ratios[worst] <= FID_VS_IDENTITY_MAX:
            met.append(
                f"FID <= {FID_VS_IDENTITY_MAX} x identity both ways (worst {ratios[worst]:.2f})"
            )
        else:
            missed.append(f"FID / identity {ratios[worst]:.2f} > {FID_VS_IDENTITY_MAX} ({worst})")
    content = {d: _value(inputs, d, "content_preservation") for d in DIRECTIONS}
    if all(isinstance(c, int | float) for c in content.values()):
        worst = min(content, key=content.get)
        if content[worst] >= CONTENT_MIN:
            met.append(f"content preserved >= {CONTENT_MIN} both ways (min {content[worst]:.2f})")
        else:
            missed.append(f"content preserved {content[worst]:.2f} < {CONTENT_MIN} ({worst})")
    return met, missed


def add_to_comparison(table: Table, inputs: ReportInputs) -> Table:
    """Table 1 plus the translation's row: its mean FID (noted: another scale), the
    bars as strengths and limits, its gate verdict."""
    if not available(inputs.translation.metrics):
        return table
    fids = [_value(inputs, d, "fid") for d in DIRECTIONS]
    fid = (
        Noted(
            statistics.fmean(fids),
            f"{LABEL}: mean of both directions' FID against the "
            "target domain, each judged by that domain's own featurizer: not the families' "
            "scale (table 11)",
        )  # fmt: skip
        if all(isinstance(f, int | float) for f in fids)
        else next(f for f in fids if isinstance(f, NA))
    )
    na = NA(f"{LABEL}: diversity, sampling speed and loss spread are family measures (table 11 "
            "has its own)")  # fmt: skip
    met, missed = _bars(inputs)
    table.rows.append(
        [LABEL, fid, na, na, na, ", ".join(met) or "—", ", ".join(missed) or "—",
         gate_verdict(inputs)]
    )  # fmt: skip
    table.caption += (
        f" The {LABEL} row is the image-to-image translation model of table 11: its strengths "
        f"and limits are the bars ({BARS})."
    )
    return table


def add_to_parameters(table: Table, inputs: ReportInputs) -> Table:
    """Table 2 plus the translation's generators (G and F: both are needed to translate
    both ways) and its checkpoint size."""
    tr = inputs.translation
    if not available(tr.metrics):
        return table
    ckpt = tr.checkpoint
    mb = ckpt.stat().st_size / 2**20 if available(ckpt) else ckpt
    total = NA(f"{inputs.layout.metrics(TRANSLATION)} counts the generators only")
    table.rows.append([LABEL, _top(inputs, "generator_parameters"), total, mb])
    return table


def add_to_training(table: Table, inputs: ReportInputs) -> Table:
    """Table 10 plus the translation's training budget, cost and its generator loss."""
    tr = inputs.translation
    if not available(tr.metrics):
        return table
    loss, final, spread, stopped = MAIN_LOSS, tr.log, tr.log, tr.log
    if available(tr.log):
        final = tr.log[-1].get(MAIN_LOSS, NA(f"no {MAIN_LOSS!r} in the translation log"))
        spread = loss_spread(tr.log, MAIN_LOSS)
        if spread is None:
            spread = NA(f"{LABEL}: too few logged steps for a loss spread")
        last = tr.log[-1].get("step")
        stopped = "no" if last == tr.metrics.get("steps") else f"log ends at step {last}"
    device = NA(f"{inputs.layout.metrics(TRANSLATION)} records no training device")
    table.rows.append(
        [LABEL, _top(inputs, "steps"), _top(inputs, "train_seconds"),
         _top(inputs, "images_per_second"), device, "—", loss, final, spread, stopped]
    )  # fmt: skip
    log = inputs.layout.model_dir(TRANSLATION) / STEP_LOG
    table.caption += f" The {LABEL} row's losses are in {log} (not in the loss curves)."
    return table


def translation_figure(inputs: ReportInputs) -> Figure:
    """The translation grid (evals/cyclegan/translations.png) with its rows named."""
    m, png = inputs.translation.metrics, inputs.translation.grid_png
    if not available(m):
        return Figure("translations", "Translations", "", m)
    domains = m.get("domains") or {}
    what = {
        "A": f"test images of A ({domains.get('A', 'domain A')})",
        "G(A)": "their translation into B",
        "F(G(A))": "translated back into A",
        "B": f"test images of B ({domains.get('B', 'domain B')})",
        "F(B)": "their translation into A",
        "G(F(B))": "translated back into B",
    }
    caption = (
        "Rows, top to bottom: "
        + "; ".join(f"{row}: {what[row]}" for row in GRID_ROWS)
        + ". A translation should look like the other domain and keep the image's content; "
        "the round trip should come back to the original (table 11's cycle error)."
    )
    return Figure("translations", f"Translations: {m.get('name', TRANSLATION)}", caption, png)
