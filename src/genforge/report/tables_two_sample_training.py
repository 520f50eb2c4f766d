"""Tables 8-10: the two-sample classifier per family (8), the generated images it
called real (9), and training cost and stability (10)."""

from __future__ import annotations

from genforge.report.load import NA, ReportInputs, available
from genforge.report.tables import Table, metric, stability


def table_discriminator(inputs: ReportInputs) -> Table:
    rows = []
    for f, fam in inputs.families.items():
        acc = metric(fam, "c2st_accuracy")
        gap = abs(acc - 0.5) * 2 if isinstance(acc, int | float) else acc
        label = metric(fam, "label_accuracy")
        if isinstance(label, NA) and available(fam.metrics) and "label_accuracy" in fam.metrics:
            label = "unconditional"
        rows.append([f, acc, gap, metric(fam, "c2st_fooled"), label])
    caption = (
        "Held-out accuracy of a small classifier trained to tell generated from real images "
        "(0.5 = indistinguishable, 1 = always caught), its distance from chance (0-1), the share "
        "of generated images it calls real, and for conditional models the share of samples the "
        "domain classifier labels as the class they were asked for."
    )
    cols = ["family", "C2ST accuracy", "distance from chance", "called real", "label accuracy"]
    return Table("8", "Discriminator attributions", caption, cols, rows)


def table_fooled(inputs: ReportInputs) -> Table:
    rows = []
    for f, fam in inputs.families.items():
        share, n = metric(fam, "c2st_fooled"), metric(fam, "n_samples")
        count = (
            round(share * n)
            if isinstance(share, int | float) and isinstance(n, int | float)
            else share
        )
        rows.append(
            [f, share, count, "shown below" if available(fam.fooled_png) else fam.fooled_png]
        )
    caption = (
        "Generated images the real-vs-generated classifier called real: the samples that "
        "pass for data. Their grids (evals/<family>/fooled.png) follow the table."
    )
    cols = ["family", "share called real", "images", "grid"]
    return Table(
        "9", "Generated images misclassified as real", caption, cols, rows, figures=["fooled"]
    )


def table_training(inputs: ReportInputs) -> Table:
    rows = []
    for f, fam in inputs.families.items():
        s, stab = fam.summary, stability(fam)
        get = (
            (lambda k, s=s: s.get(k, NA(f"no {k!r} in the summary")))
            if available(s)
            else (lambda k, s=s: s)
        )
        final = NA("no training log")
        if available(fam.log) and available(stab["loss"]):
            final = fam.log[-1].get(stab["loss"], NA("no final loss"))
        rows.append(
            [
                f,
                get("steps"),
                get("train_seconds"),
                get("images_per_s"),
                get("device"),
                get("resumed_from"),
                stab["loss"],
                final,
                stab["cv"],
                stab["stopped"],
            ]
        )
    caption = (
        "Training budget and cost (wall time, images/s on the training device), the main loss "
        "at the end, its spread over the second half of training (std / |mean|; GAN-type "
        "losses oscillate by design) and whether training stopped early (a NaN loss stops it "
        "keeping the last good checkpoint). Loss curves follow."
    )
    cols = [
        "family",
        "steps",
        "wall s",
        "images/s",
        "device",
        "resumed from",
        "main loss",
        "final",
        "spread",
        "early stop",
    ]
    return Table("10", "Training", caption, cols, rows, figures=["loss_curves"])
