"""Where every output of a run lives: the one place that names paths and file names.

The CLI, the Prefect flow, tracking, the registry, the studies and the report all ask
a `Layout` (rooted at the repository) instead of spelling "models/<family>/
checkpoint.pt" themselves. dvc.yaml declares the same paths as stage outputs (it is
the truth DVC acts on, and must stay readable YAML); tests/test_layout.py checks that
the two agree, so moving an output is one edit here, one in dvc.yaml, and a failing
test until both match.

    models/<family>/   checkpoint.pt, train_log.jsonl, samples.png, train_summary.json
    models/featurizer/ featurizer.pt, metrics.json, calibration.json
    metrics/<family>.json
    evals/<family>/    samples.png, fooled.png, copies.png
    plots/<family>/    losses.json (train), fid_vs_step.json (evaluate): DVC plots
    models/cyclegan/   checkpoint.pt, train_log.jsonl, train_summary.json,
                       featurizers/{A,B}/featurizer.pt  (the translation, `translate` stage)
    metrics/cyclegan.json, evals/cyclegan/translations.png
    gate/              report.json, report.md  (written by the flow's promotion gate),
                       translation.json, translation.md (the translation model's gate)
    studies/           studies.json            (report tables 6 and 7)
    reports/           index.html, report.md, report.json, figures/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Folders, relative to the repository (the keys are what `Layout.folder` accepts).
FOLDERS = {
    "raw": "data/raw",
    "prepared": "data/prepared",
    "models": "models",
    "featurizer": "models/featurizer",
    "metrics": "metrics",
    "evals": "evals",
    "gate": "gate",
    "studies": "studies",
    "reports": "reports",
    "plots": "plots",
}

# File names inside them.
CHECKPOINT = "checkpoint.pt"  # models/<family>/: the training checkpoint (training/trainer.py)
STEP_LOG = "train_log.jsonl"  # models/<family>/: one JSON record per logged step
TRAIN_SUMMARY = "train_summary.json"  # models/<family>/: steps, seconds, images/s
GRID = "samples.png"  # models/<family>/ and evals/<family>/: the fixed-seed sample grid
# plots/<family>/: the curves DVC plots (`dvc plots show`, `dvc plots diff`), JSON arrays
CURVE = "fid_vs_step.json"  # FID of the training snapshots against step (evaluate stage)
LOSS_PLOT = "losses.json"  # the losses against step, from train_log.jsonl (train stage)
FOOLED_GRID = "fooled.png"  # evals/<family>/: the samples the two-sample test took for data
COPIES_GRID = "copies.png"  # evals/<family>/: generated samples above their closest train image
FEATURIZER_WEIGHTS = "featurizer.pt"  # models/featurizer/
FEATURIZER_METRICS = "metrics.json"  # models/featurizer/: accuracy, calibration summary
CALIBRATION = "calibration.json"  # models/featurizer/: every calibration reference's scores
GATE_REPORT = "report.json"  # gate/: the last promotion's verdicts (and report.md beside it)
STUDIES = "studies.json"  # studies/: tables 6 and 7's results, or why they are absent
REPORT_PAGE = "index.html"  # reports/: the comparison report, self-contained
REPORT_MD = "report.md"  # reports/: the same in Markdown, images under figures/
REPORT_DATA = "report.json"  # reports/: every table as data
# The translation model (translation/): one model under the family folders' layout
TRANSLATION = "cyclegan"  # its name in models/, metrics/, evals/ and the report
TRANSLATION_GRID = "translations.png"  # evals/cyclegan/: A -> G(A) -> F(G(A)), B -> ...
DOMAIN_FEATURIZERS = "featurizers"  # models/cyclegan/: one featurizer per domain (A/, B/)
GATE_TRANSLATION = "translation.json"  # gate/: the translation gate's last verdict (+ .md)


@dataclass(frozen=True)
class Layout:
    """The pipeline's outputs under one root (the repository, "." for the CLI)."""

    root: Path = Path(".")

    def folder(self, name: str) -> Path:
        """One of `FOLDERS` (raw, prepared, models, featurizer, ...) under the root."""
        return Path(self.root) / FOLDERS[name]

    # the data and the featurizer
    @property
    def raw(self) -> Path:
        return self.folder("raw")

    @property
    def prepared(self) -> Path:
        return self.folder("prepared")

    @property
    def featurizer(self) -> Path:
        return self.folder("featurizer")

    # one family's outputs
    def model_dir(self, family: str) -> Path:
        return self.folder("models") / family

    def checkpoint(self, family: str) -> Path:
        return self.model_dir(family) / CHECKPOINT

    def metrics(self, family: str) -> Path:
        return self.folder("metrics") / f"{family}.json"

    def evals(self, family: str) -> Path:
        return self.folder("evals") / family

    def loss_plot(self, family: str) -> Path:
        return self.folder("plots") / family / LOSS_PLOT

    def fid_plot(self, family: str) -> Path:
        return self.folder("plots") / family / CURVE

    # what the flow, the studies and the report write
    @property
    def gate_report(self) -> Path:
        return self.folder("gate") / GATE_REPORT

    @property
    def translation_gate(self) -> Path:
        return self.folder("gate") / GATE_TRANSLATION

    @property
    def domain_featurizers(self) -> Path:
        return self.model_dir(TRANSLATION) / DOMAIN_FEATURIZERS

    @property
    def translation_grid(self) -> Path:
        return self.evals(TRANSLATION) / TRANSLATION_GRID

    @property
    def studies(self) -> Path:
        return self.folder("studies") / STUDIES

    @property
    def reports(self) -> Path:
        return self.folder("reports")
