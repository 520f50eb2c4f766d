"""`retrain`: the Prefect flow users schedule — version data, train, judge, promote.

A thin flow over `genforge` functions and stage commands (no ML logic here):

1. version the data through DVC: re-ingest the source; when the snapshot changed,
   commit dvc.lock and `dvc push` (the DVC hash is the dataset version);
2. prepare and featurize through DVC (`dvc repro`), so dvc.lock stays the record;
3. train and evaluate every family whose stages DVC reports stale, concurrently up to
   `max_parallel` — in-process (a subprocess per stage, as dvc.yaml declares it) or, with
   `train_deployment`, as runs of the `train-family` deployment on the `gpu` work pool —
   then `dvc commit` what was built, so `dvc status` is clean afterwards;
4. log to MLflow (one parent run, a child per family), run the gate and promote;
5. render the report and publish a Prefect markdown artifact with the verdicts.

Run in-process: `python -m flows.retrain` (what `make run` does).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.pool import retry_unless_no_worker, run_on_pool
from flows.summary import summary
from genforge import dvc_repo
from genforge.config import load_params
from genforge.errors import GenforgeError
from genforge.layout import FEATURIZER_METRICS, FOLDERS, TRANSLATION, Layout

DATA_OUT = FOLDERS["raw"]


@task
def version_data(repo: str, commit_data: bool) -> dict[str, Any]:
    """Re-snapshot the source; when it changed, commit dvc.lock (the data version)."""
    before = dvc_repo.lock_hash(DATA_OUT, Path(repo))
    # Forced: the source may live outside the repo (a folder, an IDX file) where DVC
    # cannot see it change. The snapshot is byte-deterministic, so an unchanged source
    # gives the same hash and nothing downstream becomes stale.
    dvc_repo.dvc("repro", "--force", "--single-item", "ingest", cwd=Path(repo), capture=True)
    after = dvc_repo.lock_hash(DATA_OUT, Path(repo))
    changed = before != after
    committed = False
    if changed and commit_data:
        committed = dvc_repo.git_commit(["dvc.lock"], f"data: new version {after}", Path(repo))
    return {"version": after, "changed": changed, "committed": committed}


@task(retries=3, retry_delay_seconds=[2, 10, 30])
def push(repo: str, params_path: str) -> None:
    """`dvc push` to the configured remote (a service: retried). Through genforge's
    transfer, which stops DVC within seconds when the endpoint goes away."""
    from genforge.storage.transfer import transfer

    transfer("push", load_params(Path(repo) / params_path).storage, repo)


@task
def prepare_and_featurize(repo: str) -> None:
    dvc_repo.repro("prepare", "featurizer", cwd=Path(repo))


# Families training at once, per flow run (tasks run in this process's threads).
class Slots:
    """At most `n` jobs at once, started in the order of their tickets (0, 1, 2, ...): the
    threads Prefect runs tasks on reach a plain semaphore in any order, which could start
    the longest job (listed first) last and leave a core idle at the end."""

    def __init__(self, n: int):
        self.n, self.running, self.next = n, 0, 0
        self.cond = threading.Condition()

    @contextmanager
    def hold(self, ticket: int) -> Iterator[None]:
        with self.cond:
            self.cond.wait_for(lambda: self.next == ticket and self.running < self.n)
            self.next, self.running = self.next + 1, self.running + 1
            self.cond.notify_all()
        try:
            yield
        finally:
            with self.cond:
                self.running -= 1
                self.cond.notify_all()


_SLOTS: dict[str, Slots] = {}


@task
def train_and_evaluate(
    repo: str, family: str, stages: list[str], threads: int, slots: str, line: int = 0
) -> list[str]:
    """Run a family's stale stages (train, then evaluate) as dvc.yaml declares them.

    Not retried in-process: a failure is in the code or data, not a service. A rerun
    resumes training from the family's last checkpoint.
    """
    with _SLOTS[slots].hold(line):
        for stage in stages:
            dvc_repo.run_stage(stage, Path(repo), threads=threads, slot=line)
    return stages


@task
def translate(repo: str, stages: list[str], threads: int, slots: str, line: int = 0) -> list[str]:
    """The translation model's stage (CycleGAN on its own two domains), in a slot like a family."""
    with _SLOTS[slots].hold(line):
        for stage in stages:
            dvc_repo.run_stage(stage, Path(repo), threads=threads, slot=line)
    return stages


@task(retries=2, retry_delay_seconds=[10, 30], retry_condition_fn=retry_unless_no_worker)
def train_on_pool(
    deployment: str,
    repo: str,
    family: str,
    stages: list[str],
    start_timeout: float = 600,
    timeout: float = 12 * 3600,
) -> list[str]:
    """Run a family's stages as a run of `deployment` on a work pool (retried: a
    re-run resumes from the checkpoint the failed run left; not when no worker polls
    the pool within `start_timeout` s). The run may take `timeout` s once started."""
    parameters = {"repo": repo, "family": family, "stages": stages}
    run = run_on_pool(deployment, parameters, start_timeout, timeout)
    if not run.state or not run.state.is_completed():
        raise RuntimeError(f"{family}: deployment run {run.id} ended {run.state}")
    return stages


@task
def record(repo: str, stages: list[str]) -> None:
    dvc_repo.commit(stages, Path(repo))


# Tag-based task concurrency: `prefect concurrency-limit create genforge-promotion 1` on a
# Prefect server runs one gate at a time across flow runs (it saves a gate re-scoring a
# champion another one is moving); the registry's promotion lock is what keeps the
# aliases consistent, with or without it.
@task(retries=2, retry_delay_seconds=[5, 20], tags=["genforge-promotion"])
def register_and_gate(repo: str, params_path: str, families: list[str]) -> dict[str, Any]:
    """Log candidates to MLflow, run the promotion gate, move the aliases."""
    from genforge.registry.promote import register_and_promote

    params = load_params(Path(repo) / params_path)
    return register_and_promote(params, families, root=Path(repo))


@task(retries=2, retry_delay_seconds=[5, 20], tags=["genforge-promotion"])
def register_translation(repo: str, params_path: str) -> dict[str, Any] | None:
    """The translation model: log, register and gate it on its own registered model."""
    from genforge.registry.translation import register_translation as register

    return register(load_params(Path(repo) / params_path), root=Path(repo))


@task(retries=2, retry_delay_seconds=[5, 20])
def unjudged(repo: str, params_path: str, families: list[str]) -> list[str]:
    """The families whose evaluated candidate on disk has no gate verdict in the
    registry: a gate that failed after training was committed left them unjudged."""

    from genforge.registry.versions import Registry, candidate_key
    from genforge.registry.versions import unjudged as without_verdict
    from genforge.tracking import lineage

    root, params = Path(repo), load_params(Path(repo) / params_path)
    out = Layout(root)
    files = {f: (out.metrics(f), out.checkpoint(f)) for f in families}
    keys = {
        f: candidate_key(*paths) for f, paths in files.items() if all(p.is_file() for p in paths)
    }
    if not keys:
        return []
    client = lineage.mlflow_client(lineage.tracking_uri(params, root))
    return without_verdict(Registry(client, lineage.registered_model_name(params)), keys)


@task
def report(repo: str, verdicts_changed: bool) -> None:
    """`dvc repro` the report; forced after a gate run: its verdicts (gate/report.json)
    are not a DVC output, so DVC cannot see them change (repro still records it)."""
    dvc_repo.repro("study", cwd=Path(repo))  # only when stale
    dvc_repo.repro("report", cwd=Path(repo), force=verdicts_changed)


@flow(name="train-family", log_prints=True)
def train_family_flow(repo: str, family: str, stages: list[str]) -> list[str]:
    """One family's stages on a worker (the `gpu` pool's deployment).

    `stages` come from whoever calls the deployment: each must be a stage dvc.yaml
    declares for this family, checked before any runs.
    """
    for stage in stages:
        dvc_repo.stage_argv(stage, Path(repo))  # GenforgeError naming the allowed stages
        if stage.partition("@")[2] != family:
            raise GenforgeError(f"{stage!r} is not a stage of family {family!r}")
    for stage in stages:
        dvc_repo.run_stage(stage, Path(repo))
    return stages


@flow(name="retrain", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=8))
def retrain(
    repo: str = ".",
    params_path: str = "params.yaml",
    max_parallel: int = 2,
    train_deployment: str | None = None,
    commit_data: bool = True,
    push_data: bool = True,
    train_start_timeout: float = 600,
) -> dict[str, Any]:
    """Retrain every configured family on the current data and promote the best.

    Args:
        repo: the genforge checkout to work in (dvc.yaml, params.yaml).
        params_path: params file relative to `repo` (dvc.yaml reads params.yaml).
        max_parallel: families trained at once (in-process; CPU threads are split).
        train_deployment: e.g. "train-family/gpu" to train on that deployment's pool.
        commit_data: commit dvc.lock to git when the data version changed.
        push_data: `dvc push` data and models to the DVC remote.
        train_start_timeout: seconds a `train_deployment` run may wait for a worker.
    """
    check_max_parallel(max_parallel)
    logger = get_run_logger()
    repo = str(Path(repo).resolve())
    params = load_params(Path(repo) / params_path)
    families = list(params.models.families)

    data = version_data(repo, commit_data)
    logger.info(f"data version {data['version']} (changed: {data['changed']})")
    prepare_and_featurize(repo)

    from genforge.tracking.runs import log_pipeline_artifacts, pipeline_run

    # One MLflow parent run per flow run; stage subprocesses nest their child runs under it.
    with pipeline_run(params, Path(repo), flow_run_id=str(flow_run.id)) as parent:
        trained = train_stale(repo, families, max_parallel, train_deployment, train_start_timeout)
        # Nothing new to judge when no family was rebuilt on unchanged data, a gate report
        # exists and every family's candidate has its verdict (a no-op run stays quick).
        judge = bool(trained) or data["changed"] or not Layout(Path(repo)).gate_report.exists()
        if not judge and (pending := unjudged(repo, params_path, families)):
            logger.info(f"no gate verdict yet for {', '.join(pending)}: judging")
            judge = True
        if commit_data:  # before registering: a version's git_commit tag names this commit
            dvc_repo.git_commit(lineage_files(repo), "retrain: record trained models", Path(repo))
        verdicts = register_and_gate(repo, params_path, families) if judge else {}
        if params.translation.enabled and (TRANSLATION in trained or judge):
            register_translation(repo, params_path)
        report(repo, verdicts_changed=judge)
        if commit_data:  # so a clone can `dvc pull` the models and `dvc metrics diff`
            dvc_repo.git_commit(lineage_files(repo), "retrain: record the report", Path(repo))
        if push_data:
            push(repo, params_path)
        out = Layout(Path(repo))
        folders = {
            "report": out.reports,
            "gate": out.gate_report.parent,
            "featurizer": out.featurizer,  # its calibration table
        }
        log_pipeline_artifacts(params, parent, folders, Path(repo))
    table = summary(repo, families)
    if verdicts and params.serve.url:  # which version the running service now reports
        from genforge.serving.probe import deployment_line

        table += "\n\n" + deployment_line(params, verdicts)  # verdicts: the gate's report
    create_markdown_artifact(key="retrain-summary", markdown=table, description="genforge retrain")
    return {"data": data, "trained": trained, "verdicts": verdicts, "summary": table}


def lineage_files(repo: str) -> list[str]:
    """What git records of a run: dvc.lock, the DVC metrics and plots, the .gitignores DVC wrote."""
    root = Path(repo)
    out = Layout(root)
    found = [root / "dvc.lock", out.folder("metrics"), out.folder("plots")]
    found.append(out.featurizer / FEATURIZER_METRICS)
    found += [
        p
        for d in (out.raw.parent, out.folder("models"), out.folder("evals"))
        if d.is_dir()
        for p in d.rglob(".gitignore")
    ]
    return [str(p.relative_to(root)) for p in found if p.exists()]


def check_max_parallel(max_parallel: int) -> None:
    """At least one family must train at a time: 0 slots waited forever."""
    if not isinstance(max_parallel, int) or max_parallel < 1:
        raise GenforgeError(f"max_parallel must be an integer >= 1, got {max_parallel!r}")


def train_stale(
    repo: str,
    families: list[str],
    max_parallel: int,
    train_deployment: str | None,
    start_timeout: float,
) -> list[str]:
    """Train and evaluate the families whose stages DVC reports stale; `dvc commit` them.

    Returns the families that were (re)built.
    """
    wanted = ["translate"] + [f"{s}@{f}" for f in families for s in ("train", "evaluate")]
    stale = dvc_repo.stale_stages(wanted, Path(repo))
    # the translation model first: the longest job (better packing in parallel)
    todo = {TRANSLATION: [s for s in stale if s == "translate"]}
    todo |= {f: [s for s in stale if s.endswith(f"@{f}")] for f in families}
    todo = {f: s for f, s in todo.items() if s}
    get_run_logger().info(f"stale: {stale or 'nothing'}")

    slots = str(flow_run.id)
    _SLOTS[slots] = Slots(max_parallel)
    threads = max(1, (os.cpu_count() or 1) // max(1, min(max_parallel, len(todo) or 1)))
    futures = [
        (
            translate.submit(repo, s, threads, slots, line)
            if f == TRANSLATION
            else train_on_pool.submit(train_deployment, repo, f, s, start_timeout)
            if train_deployment
            else train_and_evaluate.submit(repo, f, s, threads, slots, line)
        )
        # tickets 0, 1, ...: every in-process job has one (with train_deployment only the
        # translation, which comes first, runs here), so Slots admits them all
        for line, (f, s) in enumerate(todo.items())
    ]
    try:
        done = [stage for fut in futures for stage in fut.result()]
    finally:
        _SLOTS.pop(slots, None)
    record(repo, done)
    return sorted(todo)


NEXT_STEPS = """
Where to look next:
  mlflow ui --backend-store-uri sqlite:///mlflow.db   (runs, metrics, sample grids; http://127.0.0.1:5000)
  reports/index.html                                  (the comparison report)
  dvc metrics show                                     (metrics of every family)
  models:/<registered model>@champion                  (what to serve: see README)"""


def positive_int(text: str) -> int:
    try:
        value = int(text)
        check_max_parallel(value)
    except (ValueError, GenforgeError):
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the retrain flow in-process.")
    parser.add_argument("--max-parallel", type=positive_int, default=2, metavar="N")
    parser.add_argument("--no-commit", action="store_true", help="do not commit dvc.lock")
    args = parser.parse_args(argv)
    result = retrain(max_parallel=args.max_parallel, commit_data=not args.no_commit)
    print(f"\ntrained: {', '.join(result['trained']) or 'nothing (DVC: up to date)'}")
    print(result["summary"])
    print(NEXT_STEPS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
