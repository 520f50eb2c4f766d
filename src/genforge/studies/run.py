"""`genforge study`: the extra training behind report tables 6 and 7.

- Domains (table 7): the comparison on each source in `report.datasets`, prepared at
  this project's image size and channels with its own featurizer, every family trained
  for `report.study_steps` steps. The project's own data is the main run itself: its
  entry only says so (`main_run`) and the report reads the families' metrics.
- Transfer (table 6), two directions:
  - `report.transfer.from_source` null (the default): the main run's models are
    fine-tuned on the other embedded source for `report.study_steps` steps, against the
    same family trained there from scratch for those steps (that run is table 7's row
    for the source, so it is trained once);
  - `from_source` digits | shapes: each family pre-trained there, then fine-tuned on this
    project's data, against the same family trained here from scratch.
  Both sides are scored on the target's data with the target's featurizer.

The data and featurizers are built first; then each family's runs go to one of
`report.study_jobs` worker processes (a family's runs share the process, so a domain run
doubles as the pre-training or the scratch baseline). Each run is seeded and pinned to
`train.threads`, so the results do not depend on the number of workers. Everything lands
in `studies/` (swapped in whole at the end) with `studies.json` as the summary;
checkpoints are deleted once scored. With neither key set, only `studies.json` with the
reasons is written.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
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


def data_key(data: DataConfig) -> str:
    return data.model_dump_json()


def seed_checkpoint(
    params: Params, family: str, prepared: Path, out_dir: Path, source: Path
) -> list[str]:
    """A step-0 fine-tune checkpoint in `out_dir` from `source`'s pre-trained EMA weights
    (training/run.write_finetune_start); returns the re-initialised modules."""
    from genforge.training.checkpoint import load_checkpoint
    from genforge.training.run import write_finetune_start

    return write_finetune_start(params, family, prepared, out_dir, load_checkpoint(source)["ema"])


def build_domain(params: Params, layout: Layout, data: DataConfig, base: Path) -> tuple[Path, Path]:
    """Ingest and prepare `data` under `base` and train its featurizer; returns the
    (prepared, featurizer) folders."""
    from genforge.data.ingest import ingest
    from genforge.data.prepare import prepare
    from genforge.evaluation.featurizer import train_featurizer

    ingest(data, base / "raw")
    prepare(data, base / "raw", base / "prepared")
    shutil.rmtree(base / "raw")
    sp = study_params(params, data, params.report.study_steps)
    cache = Path(layout.root) / sp.evaluate.cache_dir
    train_featurizer(sp, base / "prepared", base / "featurizer", cache)
    return base / "prepared", base / "featurizer"


class Studies:
    """Trains and scores one family's study runs, memoised by what defines them; `data` maps each data section (its JSON) to its (prepared, featurizer) folders."""

    def __init__(self, params: Params, layout: Layout, data: dict[str, tuple[Path, Path]]):
        self.params, self.layout, self.data = params, layout, data
        self.runs: dict[str, dict[str, Any]] = {}
        self.checkpoints: dict[str, Path] = {}  # run key -> its checkpoint (for fine-tuning)

    def run(
        self, data: DataConfig, family: str, steps: int, where: Path, init: Path | None = None
    ) -> tuple[dict[str, Any], Path]:
        """Train `family` on `data` for `steps` (from `init`'s weights if given) and score it."""
        from genforge.evaluation.evaluate import evaluate_family
        from genforge.training.run import train_family

        key = json.dumps([data.model_dump(mode="json"), family, steps, str(init)])
        if key in self.runs:
            return self.runs[key], self.checkpoints[key]
        prepared, featurizer = self.data[data_key(data)]
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
        start = "fine-tuned" if init else "from scratch"
        print(
            f"study: {family} on {data.source}, {steps} steps {start}: FID {result['fid']:.2f} "
            f"(train {summary['train_seconds']:.0f} s)",
            flush=True,
        )
        return result, self.checkpoints[key]


class Plan:
    """What the configured studies train: the domains of table 7 besides the project's own
    data, and table 6's direction; all from params, before anything runs."""

    def __init__(self, params: Params):
        self.params = params
        rep, own = params.report, params.data
        self.domains = {ds: domain_data(params, ds) for ds in rep.datasets}
        self.main_run = [ds for ds, d in self.domains.items() if d == own]
        self.transfer = rep.transfer
        if self.transfer is not None and self.transfer.from_source == own.source:
            raise GenforgeError(
                f"report.transfer.from_source {own.source!r} is data.source itself; pick the "
                "other embedded source, or null to fine-tune the main run's models"
            )
        if self.transfer is None:
            self.source = self.target = None
        elif self.transfer.from_source is None:  # the main run's models -> the other source
            self.source, self.target = None, domain_data(params, other_source(own.source))
        else:
            self.source, self.target = domain_data(params, self.transfer.from_source), own

    def data_to_build(self) -> dict[str, DataConfig]:
        """Every data section a run needs that is not the project's (already prepared)."""
        needed = {ds: d for ds, d in self.domains.items() if ds not in self.main_run}
        for d in (self.source, self.target):
            if d is not None and d != self.params.data:
                needed.setdefault(d.source, d)
        return needed


def family_studies(
    params: Params,
    root: Path,
    out: Path,
    family: str,
    data: dict[str, tuple[Path, Path]],
    failed: dict[str, str],
) -> dict[str, Any]:
    """One family's study runs (a worker process's job): {"domains": {ds: result},
    "transfer": {...} or None}. `failed` maps a data section (JSON) whose featurizer
    could not be built to the reason."""
    import torch

    torch.set_num_threads(params.train.threads)  # evaluation too, as in the stages
    plan, layout, steps = Plan(params), Layout(Path(root)), params.report.study_steps
    studies = Studies(params, layout, data)
    domains: dict[str, Any] = {}
    for ds, d in plan.domains.items():
        if ds in plan.main_run or data_key(d) in failed:
            continue
        try:
            domains[ds] = studies.run(d, family, steps, out / "domains" / ds)[0]
        except GenforgeError as exc:
            domains[ds] = {"error": str(exc)}
    if plan.target is None:
        return {"domains": domains, "transfer": None}
    for d in (plan.source, plan.target):
        if d is not None and data_key(d) in failed:
            raise GenforgeError(f"table 6 needs {d.source}: {failed[data_key(d)]}")
    if plan.source is None:
        pre = layout.checkpoint(family)
        if not pre.is_file():
            raise GenforgeError(
                f"table 6 fine-tunes the main run's {family}: {pre} is missing (run `dvc repro` "
                "or `make run` first)"
            )
    else:
        pre_steps = plan.transfer.steps or steps
        _, pre = studies.run(plan.source, family, pre_steps, out / "transfer" / "pretrained")
    # When the target is one of the domains, its domain run is the scratch baseline (the
    # same key: trained once).
    scratch, _ = studies.run(plan.target, family, steps, out / "transfer" / "scratch")
    tuned, _ = studies.run(plan.target, family, steps, out / "transfer" / "finetuned", init=pre)
    transfer = {"scratch": scratch, "finetuned": tuned, "reinitialised": tuned["reinitialised"]}
    return {"domains": domains, "transfer": transfer}


def run_studies(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    """Run the configured studies into root/studies/ and return studies.json's contents."""
    layout, rep, plan = Layout(Path(root)), params.report, Plan(params)
    families = params.models.families
    summary: dict[str, Any] = {"domains": None, "transfer": None, "reasons": {}}
    with atomic_dir(layout.folder("studies")) as tmp:
        data = {data_key(params.data): (layout.prepared, layout.featurizer)}
        failed: dict[str, str] = {}
        for source, d in plan.data_to_build().items():
            print(f"study: preparing {source} and training its featurizer", flush=True)
            try:
                data[data_key(d)] = build_domain(params, layout, d, tmp / "data" / source)
            except GenforgeError as exc:  # e.g. a featurizer below its accuracy threshold
                failed[data_key(d)] = str(exc)
        args = (params, Path(root), tmp)
        jobs = min(rep.study_jobs, len(families))
        print(f"study: {len(families)} families, {jobs} at a time", flush=True)
        if jobs > 1 and (plan.domains or plan.target is not None):
            spawn = multiprocessing.get_context("spawn")  # no forked torch thread pools
            with ProcessPoolExecutor(jobs, mp_context=spawn) as pool:
                futures = [pool.submit(family_studies, *args, f, data, failed) for f in families]
                try:
                    per_family = dict(zip(families, [f.result() for f in futures], strict=True))
                except BaseException:
                    pool.shutdown(cancel_futures=True)  # the stage fails: start no more runs
                    raise
        else:
            per_family = {f: family_studies(*args, f, data, failed) for f in families}

        if plan.domains:
            summary["domains"] = domains_summary(plan, per_family, failed)
        else:
            summary["reasons"]["domains"] = "report.datasets is empty"
        if plan.target is not None:
            summary["transfer"] = transfer_summary(params, plan, per_family)
        else:
            summary["reasons"]["transfer"] = "report.transfer is not set"
        for ckpt in tmp.rglob(CHECKPOINT):
            ckpt.unlink()  # scored; the DVC cache keeps grids, logs and metrics only
        (tmp / STUDIES).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def domains_summary(plan: Plan, per_family: dict[str, Any], failed: dict[str, str]) -> dict:
    out: dict[str, Any] = {}
    for ds, d in plan.domains.items():
        if ds in plan.main_run:  # the report reads the main run's metrics
            out[ds] = {"main_run": True}
            continue
        if data_key(d) in failed:
            out[ds] = {"error": failed[data_key(d)], "families": {}}
            continue
        fams = {f: r["domains"][ds] for f, r in per_family.items()}
        scored = [r for r in fams.values() if "error" not in r]
        first = scored[0] if scored else {}
        out[ds] = {
            "families": fams,
            "floor_fid": first.get("floor_fid"),
            "num_classes": first.get("num_classes"),
            "steps": plan.params.report.study_steps,
            "n_samples": first.get("n_samples"),
        }
    return out


def transfer_summary(params: Params, plan: Plan, per_family: dict[str, Any]) -> dict:
    rep = params.report
    main = plan.source is None
    return {
        "from_source": params.data.source if main else plan.source.source,
        "to_source": plan.target.source,
        "from_main_run": main,
        # the main run's own steps, per family; else the pre-training budget
        "pretrain_steps": (
            {f: params.models.family(f).steps for f in per_family}
            if main
            else plan.transfer.steps or rep.study_steps
        ),
        "steps": rep.study_steps,
        "n_samples": rep.study_samples,
        "families": {f: r["transfer"] for f, r in per_family.items()},
    }
