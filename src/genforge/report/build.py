"""`genforge report`: read the pipeline's outputs, run the report's analyses, write reports/.

Writes, all at once (a temporary folder swapped in): `index.html` (self-contained),
`report.md` with its images under `figures/`, and `report.json` (every table as data
plus the analyses' numbers) for the flow, MLflow and scripts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from genforge.config import Params
from genforge.data.atomic import atomic_dir
from genforge.errors import GenforgeError
from genforge.layout import REPORT_DATA, REPORT_MD, REPORT_PAGE, Layout
from genforge.models.registry import family_names, model_class
from genforge.report import (
    analyses,
    figures,
    tables,
    tables_speed_studies,
    tables_translation,
    tables_two_sample_training,
)
from genforge.report.figures import Figure
from genforge.report.load import NA, ReportInputs, available, load_inputs
from genforge.report.render import render_html, render_markdown
from genforge.report.speed import diffusion_sweep, measure_speed, truncation_sweep
from genforge.report.tables import Noted


def offering(capability: str) -> list[str]:
    """The registered families whose model offers `capability` (models/base.py), asked of
    each family's class: a new family with a latent or a denoiser is analysed too."""
    return [f for f in family_names() if model_class(f).offers(capability)]


def _model(inputs: ReportInputs, family: str):
    """The family's EMA model on the CPU, or NA saying why not."""
    from genforge.training.checkpoint import load_model

    fam = inputs.families.get(family)
    if fam is None:
        return NA(f"{family} is not in models.families")
    if not available(fam.checkpoint):
        return fam.checkpoint
    try:
        return load_model(fam.checkpoint)
    except GenforgeError as exc:
        return NA(str(exc))


def _guard(fn):
    """`fn` with expected failures (bad input) turned into NA; a bug still raises."""

    def guarded(*args) -> Any:
        try:
            return fn(*args)
        except (GenforgeError, ValueError) as exc:
            return NA(f"{fn.__name__} failed: {exc}")

    return guarded


def _test_split(layout: Layout):
    from genforge.data.prepare import load_prepared

    try:
        return load_prepared(layout.prepared, "test")
    except GenforgeError as exc:
        return NA(str(exc))


def run_analyses(params: Params, inputs: ReportInputs) -> dict[str, Any]:
    """Speed, diffusion sweep, interpolations, inpainting and anomaly scores (or NAs).

    `seconds` records each analysis's wall time, so a slow report can be trimmed
    (report.sweep_samples, report.speed_images, report.anomaly_images).
    """
    interpolated, denoising = offering("decode_latent"), offering("denoiser")
    truncating = offering("truncation")
    # loaded even when not configured: NA says why
    wanted = {*inputs.families, *interpolated, *denoising, *truncating}
    models = {f: _model(inputs, f) for f in wanted}
    # the sweeps and inpainting are one each: the first configured family offering it,
    # else the first registered one (whose NA names why it is missing)
    denoiser = next((f for f in denoising if f in inputs.families), denoising[0])
    truncated = next((f for f in truncating if f in inputs.families), truncating[0])
    test = _test_split(inputs.layout)
    split = test if available(test) else ()  # without data/prepared, timed() returns test's NA
    rep = params.report
    seconds: dict[str, float] = {}

    def timed(name: str, model, fn, *args) -> Any:
        bad = model if isinstance(model, NA) else test
        if isinstance(bad, NA):
            return bad
        start = time.perf_counter()
        print(f"report: {name} ...", flush=True)  # no silent minutes (issue 19)
        try:
            return fn(model, *args)
        finally:
            seconds[name] = round(time.perf_counter() - start, 2)
            print(f"report: {name} done in {seconds[name]:.1f} s", flush=True)

    out: dict[str, Any] = {
        "speed": {
            f: timed(f"speed-{f}", models[f], measure_speed, rep.speed_images)
            for f in inputs.families
        }
    }
    out["sweep"] = timed("sweep", models[denoiser], diffusion_sweep, params, inputs.layout)
    out["truncation_family"] = truncated
    out["truncation"] = timed(
        "truncation", models[truncated], truncation_sweep, params, inputs.layout
    )
    out["style_mixing"] = timed("style-mixing", models[truncated], _guard(analyses.style_mixing))
    out["interpolations"] = {
        f: timed(f"interpolation-{f}", models[f], _guard(analyses.interpolate), *split)
        for f in interpolated
    }
    out["inpainting"] = timed("inpainting", models[denoiser], _guard(analyses.inpaint), *split)
    out["anomaly"] = timed(
        "anomaly",
        models["vae"],
        _guard(analyses.anomaly),
        params.data,
        test[0] if not isinstance(test, NA) else None,
        rep.anomaly_images,
        rep.ood_source,
    )
    out["seconds"] = seconds
    return out


def _grid_caption(layout: Layout) -> str:
    from genforge.data.prepare import load_meta

    try:
        names = load_meta(layout.prepared)["class_names"]
    except GenforgeError:
        return "EMA samples at the end of training."
    return f"EMA samples at the end of training; conditional models: one row per class ({', '.join(names)})."


def assemble(params: Params, inputs: ReportInputs, res: dict[str, Any]):
    """The (table, figures) sections and the analyses figures, in report order."""
    fams = inputs.families
    grid = _grid_caption(inputs.layout)
    samples = [
        Figure(f"samples-{f}", f"Samples: {f}", grid, x.samples_png) for f, x in fams.items()
    ]
    fooled = [
        Figure(
            f"fooled-{f}",
            f"Called real: {f}",
            "Generated images the two-sample classifier called real.",
            x.fooled_png,
        )
        for f, x in fams.items()
    ]
    copies = [
        Figure(
            f"copies-{f}",
            f"Closest to training images: {f}",
            "Top row: the generated samples nearest to a training image (feature space); "
            "bottom row: that training image. Identical pairs mean memorisation.",
            x.copies_png,
        )
        for f, x in fams.items()
    ]
    sweep = res["sweep"]
    sections = [
        (
            tables_translation.add_to_comparison(tables.table_comparison(inputs), inputs),
            [
                *samples,
                Figure(
                    "pr_scatter",
                    "Precision against recall",
                    "Each family's fidelity (precision) against its diversity (recall); grey crosses are the references.",
                    figures.pr_scatter(inputs),
                ),
            ],
        ),
        (tables_translation.add_to_parameters(tables.table_parameters(inputs), inputs), []),
        (
            tables.table_fidelity(inputs),
            [
                Figure(
                    "fid_vs_step",
                    "FID against training step",
                    "Scored on the EMA weights during training; the dashed line is the real-vs-real floor.",
                    figures.fid_vs_step(inputs),
                )
            ],
        ),
        (tables.table_calibration(inputs), copies),
        (tables.table_diversity(inputs), []),
        (tables_speed_studies.table_inference(inputs, res["speed"]), []),
        (
            tables_speed_studies.table_sweep(sweep),
            [
                Figure(
                    "sweep",
                    "Diffusion FID against sampler steps",
                    "DDIM at each step count (and the full ancestral sampler, when swept).",
                    figures.sweep_curve(sweep),
                )
            ],
        ),
        (
            tables_speed_studies.table_truncation(res["truncation_family"], res["truncation"]),
            [
                Figure(
                    "style_mixing",
                    f"Style mixing: {res['truncation_family']}",
                    "Top row: the fine-style sources; left column: the coarse-style sources; "
                    "each cell: its row's coarse styles (low resolutions: pose, shape) with its "
                    "column's fine styles (high resolutions: stroke, texture).",
                    res["style_mixing"],
                )
            ],
        ),
        (tables_speed_studies.table_transfer(inputs), []),
        (tables_speed_studies.table_domains(inputs), []),
        (tables_two_sample_training.table_discriminator(inputs), []),
        (tables_two_sample_training.table_fooled(inputs), fooled),
        (
            tables_translation.add_to_training(
                tables_two_sample_training.table_training(inputs), inputs
            ),
            [
                Figure(
                    "loss_curves",
                    "Loss curves",
                    "Every logged loss against step; the main loss is drawn solid.",
                    figures.loss_curves(inputs),
                )
            ],
        ),
        (
            tables_translation.table_translation(inputs),
            [tables_translation.translation_figure(inputs)],
        ),
    ]
    extra = [_interp_figure(f, png) for f, png in res["interpolations"].items()]
    extra += [_inpaint_figure(res["inpainting"]), _anomaly_figure(res["anomaly"])]
    return sections, extra


def _interp_figure(family: str, png: bytes | NA) -> Figure:
    how = (
        "walks linearly between the encodings of two real test images (shown at both ends)"
        if model_class(family).offers("encode")
        else "walks along a great circle between two prior draws (slerp), one row per class"
    )
    return Figure(
        f"interpolation-{family}", f"Latent interpolation: {family}", f"The {family} {how}.", png
    )


def _inpaint_figure(r: dict | NA) -> Figure:
    if isinstance(r, NA):
        return Figure("inpainting", "Diffusion inpainting", "", r)
    caption = (
        f"RePaint (Lugmayr et al. 2022) on {r['images']} masked test images: rows are the "
        f"originals, the masked inputs and two inpainted draws ({r['steps']} steps, "
        f"{r['resample']} resamplings each). Mean absolute error in the holes "
        f"{r['hole_mae']:.1f}/255, against {r['mean_fill_mae']:.1f}/255 for filling them with the "
        "known pixels' mean."
    )
    return Figure("inpainting", "Diffusion inpainting", caption, r["png"])


def _anomaly_figure(r: dict | NA) -> Figure:
    if isinstance(r, NA):
        return Figure("anomaly", "VAE anomaly scores", "", r)
    caption = (
        f"VAE negative ELBO (bits/dim) of {len(r['id_scores'])} test images against "
        f"{len(r['ood_scores'])} {r['ood_source']} images converted to the same size and "
        f"channels: mean {r['id_mean']:.2f} vs {r['ood_mean']:.2f} bits/dim, AUROC "
        f"{r['auroc']:.3f} (1 = the score separates them perfectly, 0.5 = chance; likelihood "
        "models can rank simple out-of-distribution images as more likely, Nalisnick et al. 2019)."
    )
    return Figure("anomaly", "VAE anomaly scores", caption, figures.anomaly_hist(r))


def _jsonable(value: Any) -> Any:
    if isinstance(value, NA):
        return {"not_available": value.reason}
    if isinstance(value, Noted):
        return {"value": _jsonable(value.value), "note": value.note}
    if isinstance(value, bytes):
        return None
    if isinstance(value, dict):
        return {
            k: _jsonable(v) for k, v in value.items() if k not in ("png", "id_scores", "ood_scores")
        }
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def build_report(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    """Write root/reports/{index.html, report.md, report.json, figures/*.png}.

    Returns report.json's contents (tables as data, analyses' numbers).
    """
    layout = Layout(Path(root))
    inputs = load_inputs(layout, list(params.models.families))
    res = run_analyses(params, inputs)
    sections, extra = assemble(params, inputs, res)
    title = f"genforge comparison report: {params.data.source}"
    intro = (
        f"{len(inputs.families)} model families trained on {params.data.source} "
        f"({params.data.image_size}x{params.data.image_size}, {params.data.channels} channel(s)), "
        "scored with the same metrics against the same references. Every number is measured on "
        "this data; 'n/a' cells name what is missing."
    )
    summary = {
        "title": title,
        "tables": [
            {
                "number": t.number,
                "title": t.title,
                "caption": t.caption,
                "columns": t.columns,
                "rows": _jsonable(t.rows),
                "unavailable": t.unavailable,
                "note": t.note,
            }
            for t, _ in sections
        ],
        "analyses": _jsonable({k: v for k, v in res.items() if k != "interpolations"}),
        "figures": {
            f.key: (str(f.png) if isinstance(f.png, NA) else "ok")
            for _, figs in sections
            for f in figs
        }
        | {f.key: (str(f.png) if isinstance(f.png, NA) else "ok") for f in extra},
    }
    with atomic_dir(layout.reports) as tmp:
        (tmp / "figures").mkdir()
        for fig in [f for _, figs in sections for f in figs] + extra:
            if not isinstance(fig.png, NA):
                (tmp / "figures" / f"{fig.key}.png").write_bytes(fig.png)
        (tmp / REPORT_PAGE).write_text(render_html(title, intro, sections, extra), encoding="utf-8")
        (tmp / REPORT_MD).write_text(
            render_markdown(title, intro, sections, extra), encoding="utf-8"
        )
        (tmp / REPORT_DATA).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
