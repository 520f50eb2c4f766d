"""Tables 5-7, built from measurements the report or `genforge study` makes itself:
inference time and the diffusion sampler sweep (5), transfer learning (6) and the
comparison repeated on other datasets (7, from studies/studies.json).
"""

from __future__ import annotations

from typing import Any

from genforge.report.load import NA, FamilyInputs, ReportInputs, available, references
from genforge.report.tables import Table, metric

STUDY_KEYS = ("fid", "precision", "recall", "coverage", "classes_covered")


def table_inference(inputs: ReportInputs, speed: dict[str, Any]) -> Table:
    """Table 5: images/s and ms/image per family on the CPU and the GPU."""
    rows = []
    for f, fam in inputs.families.items():
        s = speed.get(f, NA(f"{f}: not timed"))
        if isinstance(s, NA):
            rows.append([f, metric(fam, "samples_per_s"), s, s, s, s])
            continue
        cpu, gpu = s["cpu"], s["cuda"]
        rows.append(
            [
                f,
                metric(fam, "samples_per_s"),
                cpu["images_per_s"],
                cpu["ms_per_image"],
                gpu if isinstance(gpu, NA) else gpu["images_per_s"],
                gpu if isinstance(gpu, NA) else gpu["ms_per_image"],
            ]
        )
    n = next((s["cpu"]["n"] for s in speed.values() if not isinstance(s, NA)), "?")
    caption = (
        "Sampling cost: images/s measured during evaluation (on its device, with its batch "
        f"size), then a batch of {n} images timed here after a warm-up, on the CPU and on the "
        "GPU when one is present. Autoregressive and diffusion models pay per pixel or per step."
    )
    cols = [
        "family",
        "eval images/s",
        "CPU images/s",
        "CPU ms/image",
        "GPU images/s",
        "GPU ms/image",
    ]
    return Table("5", "Inference time", caption, cols, rows)


def table_sweep(sweep: list[dict] | NA) -> Table:
    """Table 5b: diffusion quality against sampler steps."""
    cols = ["sampler", "steps", "FID", "KID", "precision", "recall", "images/s", "n"]
    caption = (
        "The diffusion model's quality against the number of sampler steps: DDIM "
        "(deterministic, eta = 0) on strided timesteps, and, when report.diffusion_sweep "
        "lists it (make report-full), the full ancestral sampler (every timestep, eta = 1). "
        "Fewer steps are proportionally faster; quality usually holds up to a point and "
        "then degrades."
    )
    if isinstance(sweep, NA):
        return Table(
            "5b", "Diffusion quality against sampler steps", caption, cols, unavailable=sweep.reason
        )
    rows = []
    for r in sweep:
        if "error" in r:
            rows.append([r["setting"], r["error"], *[r["error"]] * 6])
            continue
        get = lambda k, r=r: r[k] if r.get(k) is not None else NA(f"the scorer returned no {k!r}")  # noqa: E731
        rows.append(
            [
                r["sampler"],
                r["steps"],
                get("fid"),
                get("kid"),
                get("precision"),
                get("recall"),
                get("samples_per_s"),
                r["n_samples"],
            ]
        )
    return Table(
        "5b", "Diffusion quality against sampler steps", caption, cols, rows, figures=["sweep"]
    )


def table_truncation(family: str | None, sweep: list[dict] | NA) -> Table:
    """Table 5c: the truncation trade-off (fidelity against diversity) of a style-based
    generator, and its style-mixing grid."""
    cols = ["psi", "FID", "precision", "recall", "coverage", "images/s", "n"]
    caption = (
        f"The truncation trick on {family or 'a family that offers it'}: each latent w is "
        "pulled towards the average w by psi (w' = w_avg + psi (w - w_avg), Karras et al. "
        "2019, arXiv 1812.04948). Lower psi should raise precision (fidelity) and lower "
        "recall and coverage (diversity)."
    )
    title = "Truncation: fidelity against diversity"
    if isinstance(sweep, NA):
        return Table("5c", title, caption, cols, unavailable=sweep.reason)
    rows = []
    for r in sweep:
        if "error" in r:
            rows.append([r["setting"], *[r["error"]] * 6])
            continue
        get = lambda k, r=r: r[k] if r.get(k) is not None else NA(f"the scorer returned no {k!r}")  # noqa: E731
        keys = ("fid", "precision", "recall", "coverage", "samples_per_s")
        rows.append([r["psi"], *[get(k) for k in keys], r["n_samples"]])
    return Table("5c", title, caption, cols, rows, figures=["style_mixing"])


def _study(inputs: ReportInputs, key: str, how: str) -> dict | NA:
    if not available(inputs.studies):
        return NA(f"{inputs.studies.reason}; {how}")
    value = inputs.studies.get(key)
    if not isinstance(value, dict):
        reason = (inputs.studies.get("reasons") or {}).get(key, f"studies.json has no {key!r}")
        return NA(f"{reason}; {how}")
    return value


def _m(block: Any, key: str, where: str) -> Any:
    if not isinstance(block, dict):
        return NA(f"{where}: no result")
    if "error" in block:
        return NA(f"{where}: {block['error']}")
    value = block.get(key)
    return NA(f"{where}: no {key!r}") if value is None else value


def table_transfer(inputs: ReportInputs) -> Table:
    """Table 6: fine-tuned from another dataset's model vs from scratch, equal steps."""
    cols = [
        "family",
        "pre-trained on",
        "steps",
        "FID scratch",
        "FID fine-tuned",
        "FID change",
        "recall scratch",
        "recall fine-tuned",
        "re-initialised",
    ]
    caption_base = (
        "Each family pre-trained on one dataset, then fine-tuned on another, against the "
        "same family trained there from scratch for the same number of steps (both scored "
        "on the target dataset with its featurizer). A negative FID change means transfer helped."
    )
    study = _study(inputs, "transfer", "set report.transfer")
    if isinstance(study, NA):
        return Table("6", "Transfer learning", caption_base, cols, unavailable=study.reason)
    main = bool(study.get("from_main_run"))
    origin = f"{study['from_source']} (main run)" if main else study["from_source"]
    rows = []
    for f, r in study.get("families", {}).items():
        scratch, tuned = r.get("scratch"), r.get("finetuned")
        a, b = _m(scratch, "fid", f"{f} scratch"), _m(tuned, "fid", f"{f} fine-tuned")
        change = (
            f"{(b - a) / a:+.0%}"
            if isinstance(a, int | float) and isinstance(b, int | float) and a
            else NA("no FID pair")
        )
        reinit = ", ".join(r.get("reinitialised") or []) or "none"
        rows.append(
            [
                f,
                origin,
                study["steps"],
                a,
                b,
                change,
                _m(scratch, "recall", f),
                _m(tuned, "recall", f),
                reinit,
            ]
        )
    pre = (
        "the main run's models (each at its own steps)"
        if main
        else f"{study['pretrain_steps']} pre-training steps"
    )
    caption = caption_base + (
        f" {study['from_source']} → {study['to_source']}: {pre}, {study['steps']} steps each "
        f"after, n = {study['n_samples']} samples. Layers whose shape differs (e.g. label "
        "embeddings with another class count) start fresh."
    )
    return Table("6", "Transfer learning", caption, cols, rows)


def table_domains(inputs: ReportInputs) -> Table:
    """Table 7: the comparison on each dataset of report.datasets (the project's own: the
    main run)."""
    cols = [
        "dataset",
        "family",
        "steps",
        "n",
        "FID",
        "floor FID",
        "precision",
        "recall",
        "coverage",
        "classes covered",
        "train s",
    ]
    caption = (
        "The same families on each dataset in report.datasets, each scored with its own "
        "featurizer against its own floor: this project's data is the main run (its steps "
        "and samples), the others a short study budget. Compare rankings within a dataset; "
        "rankings that hold across datasets are the ones to trust."
    )
    study = _study(inputs, "domains", "set report.datasets")
    if isinstance(study, NA):
        return Table("7", "Several image domains", caption, cols, unavailable=study.reason)
    rows = []
    for ds, d in study.items():
        if d.get("main_run"):
            refs = references(inputs)
            floor = refs["floor"]["fid"] if available(refs) else refs
            rows += [
                _main_run_row(f"{ds} (main run)", fam, floor) for fam in inputs.families.values()
            ]
            continue
        if "error" in d:  # e.g. its featurizer missed the accuracy threshold
            rows.append([ds, "—", *[NA(f"{ds}: {d['error']}")] * (len(cols) - 2)])
        for f, r in (d.get("families") or {}).items():
            where = f"{ds}/{f}"
            k, n = _m(r, "classes_covered", where), d.get("num_classes")
            classes = f"{k}/{n}" if isinstance(k, int | float) and n else k
            keys = ("steps", "n_samples", "fid", "floor_fid", "precision", "recall", "coverage")
            rows.append(
                [
                    ds,
                    f,
                    *(_m(r, key, where) for key in keys),
                    classes,
                    _m(r, "train_seconds", where),
                ]
            )
    return Table("7", "Several image domains", caption, cols, rows)


def _main_run_row(name: str, fam: FamilyInputs, floor: Any) -> list:
    """A table 7 row from a family's own metrics and training summary (the main run)."""
    k, n = metric(fam, "classes_covered"), metric(fam, "num_classes")
    classes = f"{k}/{n}" if isinstance(k, int | float) and isinstance(n, int | float) else k

    def trained(key: str) -> Any:  # from train_summary.json, or the NA saying why not
        return (
            _m(fam.summary, key, f"{name}/{fam.family}") if available(fam.summary) else fam.summary
        )

    return [
        name,
        fam.family,
        trained("steps"),
        metric(fam, "n_samples"),
        metric(fam, "fid"),
        floor,
        *(metric(fam, key) for key in ("precision", "recall", "coverage")),
        classes,
        trained("train_seconds"),
    ]
