"""`genforge study`: the extra training behind report tables 6 and 7.

- Domains (table 7): for every source in `report.datasets`, prepare it at this
  project's image size and channels, train its featurizer, then train and evaluate
  every family for `report.study_steps` steps.
- Transfer (table 6): pre-train each family on `report.transfer.from_source`, then
  fine-tune it on this project's data for `report.study_steps` steps, against the same
  family trained from scratch for those steps; both scored with this project's featurizer.

Runs are memoised by (data, family, steps, init) within one call, so a domain run on
the transfer source doubles as the pre-training. Everything lands in `studies/`
(swapped in whole at the end) with `studies.json` as the summary; checkpoints are
deleted once scored. With neither key set, only `studies.json` with the reasons is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from genforge.config import DataConfig, Params, validate
from genforge.data.atomic import atomic_dir
from genforge.errors import GenforgeError
from genforge.layout import CHECKPOINT, STUDIES, Layout

KEPT_METRICS = (
    "fid",
    "kid",
    "precision",
    "recall",
    "coverage",
    "density",
    "classes_covered",
    "num_classes",
    "n_samples",
)


def study_params(params: Params, data: DataConfig, steps: int) -> Params:
    """`params` with another data section, every family at `steps` and study-sized evaluation."""
    raw = params.model_dump(mode="json")
    raw["data"] = data.model_dump(mode="json")
    for f in params.models.families:
        raw["models"][f]["steps"] = steps
    raw["evaluate"]["n_samples"] = params.report.study_samples
    return validate(raw, "params.yaml (study)")


def other_source(source: str) -> str:
    """The embedded source to contrast with `source`: shapes for digits, else digits."""
    return "shapes" if source == "digits" else "digits"


def domain_data(params: Params, source: str) -> DataConfig:
    """This project's data section with another embedded source (same size, channels, split)."""
    return params.data.model_copy(update={"source": source, "path": None})


def seed_checkpoint(
    params: Params, family: str, prepared: Path, out_dir: Path, source: Path
) -> list[str]:
    """A step-0 fine-tune checkpoint in `out_dir` from `source`'s pre-trained EMA weights
    (training/run.write_finetune_start); returns the re-initialised modules."""
    from genforge.training.checkpoint import load_checkpoint
    from genforge.training.run import write_finetune_start

    return write_finetune_start(params, family, prepared, out_dir, load_checkpoint(source)["ema"])


class Studies:
    """Trains and scores study runs under `out`, memoised by what defines them."""

    def __init__(self, params: Params, layout: Layout, out: Path):
        self.params, self.layout, self.out = params, layout, out
        self.runs: dict[str, dict[str, Any]] = {}
        self.checkpoints: dict[str, Path] = {}  # run key -> its checkpoint (for fine-tuning)
        self.data: dict[str, tuple[Path, Path]] = {}  # data key -> (prepared, featurizer)

    def prepare(self, data: DataConfig) -> tuple[Path, Path]:
        """Prepared data and featurizer for `data`: the project's own, else built here."""
        from genforge.data.ingest import ingest
        from genforge.data.prepare import prepare
        from genforge.evaluation.featurizer import train_featurizer

        key = data.model_dump_json()
        if key in self.data:
            return self.data[key]
        if data == self.params.data:
            found = (self.layout.prepared, self.layout.featurizer)
        else:
            base = self.out / "data" / data.source
            ingest(data, base / "raw")
            prepare(data, base / "raw", base / "prepared")
            shutil.rmtree(base / "raw")
            sp = study_params(self.params, data, self.params.report.study_steps)
            train_featurizer(
                sp,
                base / "prepared",
                base / "featurizer",
                Path(self.layout.root) / sp.evaluate.cache_dir,
            )
            found = (base / "prepared", base / "featurizer")
        self.data[key] = found
        return found

    def run(
        self, data: DataConfig, family: str, steps: int, where: Path, init: Path | None = None
    ) -> tuple[dict[str, Any], Path]:
        """Train `family` on `data` for `steps` (from `init`'s weights if given) and score it."""
        from genforge.evaluation.evaluate import evaluate_family
        from genforge.training.run import train_family

        key = json.dumps([data.model_dump(mode="json"), family, steps, str(init)])
        if key in self.runs:
            return self.runs[key], self.checkpoints[key]
        prepared, featurizer = self.prepare(data)
        sp = study_params(self.params, data, steps)
        reinit = seed_checkpoint(sp, family, prepared, where / family, init) if init else []
        summary = train_family(sp, family, prepared, where / family, progress=False)
        metrics = evaluate_family(
            sp,
            family,
            prepared,
            where,
            featurizer,
            where / f"{family}.metrics.json",
            Path(self.layout.root) / sp.evaluate.cache_dir,
        )
        result = {k: metrics.get(k) for k in KEPT_METRICS}
        result |= {
            "train_seconds": summary["train_seconds"],
            "steps": steps,
            "floor_fid": metrics["reference"]["floor"]["fid"],
            "reinitialised": reinit,
        }
        self.runs[key], self.checkpoints[key] = result, where / family / CHECKPOINT
        return result, self.checkpoints[key]

    def domains(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        steps = self.params.report.study_steps
        for ds in self.params.report.datasets:
            data = domain_data(self.params, ds)
            fams: dict[str, Any] = {}
            try:
                for f in self.params.models.families:
                    fams[f] = self.run(data, f, steps, self.out / "domains" / ds)[0]
            except GenforgeError as exc:  # e.g. a featurizer below its accuracy threshold
                out[ds] = {"error": str(exc), "families": fams}
                continue
            first = next(iter(fams.values()))
            out[ds] = {
                "families": fams,
                "floor_fid": first["floor_fid"],
                "num_classes": first["num_classes"],
                "steps": steps,
                "n_samples": first["n_samples"],
            }
        return out

    def transfer(self) -> dict[str, Any]:
        cfg, rep = self.params.report.transfer, self.params.report
        from_source = cfg.from_source or other_source(self.params.data.source)
        if from_source == self.params.data.source:
            raise GenforgeError(
                f"report.transfer.from_source {from_source!r} is data.source itself; "
                "pick the other embedded source"
            )
        pre_steps = cfg.steps or rep.study_steps
        source = domain_data(self.params, from_source)
        fams = {}
        for f in self.params.models.families:
            _, pre = self.run(source, f, pre_steps, self.out / "transfer" / "pretrained")
            scratch, _ = self.run(
                self.params.data, f, rep.study_steps, self.out / "transfer" / "scratch"
            )
            tuned, _ = self.run(
                self.params.data, f, rep.study_steps, self.out / "transfer" / "finetuned", init=pre
            )
            fams[f] = {
                "scratch": scratch,
                "finetuned": tuned,
                "reinitialised": tuned["reinitialised"],
            }
        return {
            "from_source": from_source,
            "to_source": self.params.data.source,
            "pretrain_steps": pre_steps,
            "steps": rep.study_steps,
            "n_samples": rep.study_samples,
            "families": fams,
        }


def run_studies(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    """Run the configured studies into root/studies/ and return studies.json's contents."""
    layout = Layout(Path(root))
    rep = params.report
    summary: dict[str, Any] = {"domains": None, "transfer": None, "reasons": {}}
    with atomic_dir(layout.folder("studies")) as tmp:
        studies = Studies(params, layout, tmp)
        if rep.datasets:
            summary["domains"] = studies.domains()
        else:
            summary["reasons"]["domains"] = "report.datasets is empty"
        if rep.transfer is not None:
            summary["transfer"] = studies.transfer()
        else:
            summary["reasons"]["transfer"] = "report.transfer is not set"
        for ckpt in tmp.rglob(CHECKPOINT):
            ckpt.unlink()  # scored; the DVC cache keeps grids, logs and metrics only
        (tmp / STUDIES).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
