"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed).

Each function returns PNG bytes or an `NA` naming what is missing; `Figure` pairs
that with a title and a caption for the HTML and markdown renderers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless, deterministic raster output
import matplotlib.pyplot as plt  # noqa: E402

from genforge.report.load import NA, ReportInputs, available, references  # noqa: E402
from genforge.report.tables import REF_NAMES, main_loss  # noqa: E402

DPI = 100


@dataclass
class Figure:
    """One figure of the report; `png` is the image or why it is missing."""

    key: str
    title: str
    caption: str
    png: bytes | NA


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def fid_vs_step(inputs: ReportInputs) -> bytes | NA:
    """FID against training step, one line per family with an FID curve."""
    curves = {f: x.fid_curve for f, x in inputs.families.items() if available(x.fid_curve)}
    if not curves:
        return NA(
            "no plots/<family>/fid_vs_step.json (the evaluate stage scores the training snapshots)"
        )
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for f, rows in curves.items():
        pts = sorted((r["step"], r["fid"]) for r in rows if r.get("fid") is not None)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f)
    refs = references(inputs)
    if available(refs) and (refs.get("floor") or {}).get("fid") is not None:
        ax.axhline(refs["floor"]["fid"], color="grey", ls="--", lw=1, label="floor")
    ax.set(xlabel="training step", ylabel="FID (lower is better)", yscale="log")
    ax.legend(fontsize=8)
    return to_png(fig)


def pr_scatter(inputs: ReportInputs) -> bytes | NA:
    """Precision against recall, one point per family, references in grey."""
    pts = {}
    for f, x in inputs.families.items():
        if (
            available(x.metrics)
            and x.metrics.get("precision") is not None
            and x.metrics.get("recall") is not None
        ):
            pts[f] = (x.metrics["recall"], x.metrics["precision"])
    if not pts:
        return NA("no family has precision and recall in metrics/<family>.json")
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for f, (r, p) in pts.items():
        ax.scatter(r, p, s=60, zorder=3)
        ax.annotate(f, (r, p), textcoords="offset points", xytext=(5, 5), fontsize=9)
    refs = references(inputs)
    if available(refs):
        for name, label in REF_NAMES.items():
            ref = refs.get(name) or {}
            if ref.get("precision") is not None and ref.get("recall") is not None:
                ax.scatter(ref["recall"], ref["precision"], marker="x", color="grey")
                ax.annotate(
                    label,
                    (ref["recall"], ref["precision"]),
                    textcoords="offset points",
                    xytext=(5, -10),
                    fontsize=8,
                    color="grey",
                )
    ax.set(
        xlabel="recall (diversity)",
        ylabel="precision (fidelity)",
        xlim=(-0.05, 1.05),
        ylim=(-0.05, 1.05),
    )
    ax.grid(alpha=0.3)
    return to_png(fig)


def loss_curves(inputs: ReportInputs) -> bytes | NA:
    """Every logged loss against step, one panel per family."""
    logs = {f: x.log for f, x in inputs.families.items() if available(x.log)}
    if not logs:
        return NA("no models/<family>/train_log.jsonl")
    fig, axes = plt.subplots(1, len(logs), figsize=(3.2 * len(logs), 2.8), squeeze=False)
    for ax, (f, log) in zip(axes[0], logs.items(), strict=True):
        keys = [k for k in log[-1] if k not in ("step", "images_per_s")]
        steps = [r["step"] for r in log]
        for k in keys:
            ax.plot(
                steps,
                [r.get(k) for r in log],
                lw=1,
                label=k,
                alpha=1 if k == main_loss(f, log) else 0.6,
            )
        ax.set(title=f, xlabel="step")
        ax.legend(fontsize=7)
    return to_png(fig)


def sweep_curve(sweep: list[dict] | NA) -> bytes | NA:
    """Diffusion FID and images/s against sampler steps."""
    if isinstance(sweep, NA):
        return sweep
    rows = [r for r in sweep if "error" not in r and r.get("fid") is not None]
    if not rows:
        return NA("no sweep setting could be scored")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ddim = sorted((r["steps"], r["fid"]) for r in rows if r["sampler"] == "ddim")
    if ddim:
        ax.plot([s for s, _ in ddim], [v for _, v in ddim], marker="o", label="DDIM (eta 0)")
    for r in rows:
        if r["sampler"] == "ancestral":
            ax.scatter(
                r["steps"],
                r["fid"],
                marker="s",
                color="C3",
                zorder=3,
                label=f"ancestral ({r['steps']} steps)",
            )
    ax.set(xlabel="sampler steps", ylabel="FID", xscale="log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return to_png(fig)


def anomaly_hist(result: dict | NA) -> bytes | NA:
    """Histograms of VAE bits/dim on test images and on out-of-distribution images."""
    if isinstance(result, NA):
        return result
    fig, ax = plt.subplots(figsize=(6, 3.4))
    lo = min(min(result["id_scores"]), min(result["ood_scores"]))
    hi = max(max(result["id_scores"]), max(result["ood_scores"]))
    bins = [lo + (hi - lo) * i / 40 for i in range(41)] if hi > lo else 10
    ax.hist(result["id_scores"], bins=bins, alpha=0.6, label="test images (in distribution)")
    ax.hist(
        result["ood_scores"],
        bins=bins,
        alpha=0.6,
        label=f"{result['ood_source']} (out of distribution)",
    )
    ax.set(
        xlabel="VAE negative ELBO, bits/dim", ylabel="images", title=f"AUROC {result['auroc']:.3f}"
    )
    ax.legend(fontsize=8)
    return to_png(fig)
