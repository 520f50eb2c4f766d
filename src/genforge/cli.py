"""`genforge <command>`: the one entry point; dvc.yaml stages and flows call it.

Each command validates params.yaml once (exit 2 on any problem, before anything is
written), then calls one importable function with keyword arguments. Expected
failures (bad data, a missing input) print one clear line and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from genforge.config import FAMILIES, Params, ParamsError, load_params
from genforge.errors import GenforgeError
from genforge.layout import REPORT_MD, REPORT_PAGE, TRANSLATION, Layout

OUT = Layout()  # every stage reads and writes relative to the repository (dvc.yaml's cwd)


def cmd_ingest(params: Params, args: argparse.Namespace) -> None:
    from genforge.data.ingest import ingest

    summary = ingest(params.data, OUT.raw)
    print(
        f"ingested {summary['images']} images of {summary['classes']} classes "
        f"({params.data.source}) into {OUT.raw}"
    )


def cmd_prepare(params: Params, args: argparse.Namespace) -> None:
    from genforge.data.prepare import prepare

    meta = prepare(params.data, OUT.raw, OUT.prepared)
    counts = meta["counts"]
    print(
        f"prepared {meta['source']}: train {counts['train']}, test {counts['test']} images "
        f"of shape {meta['image_shape']}, {meta['num_classes']} classes -> {OUT.prepared}"
    )


def cmd_train(params: Params, args: argparse.Namespace) -> None:
    from genforge.training.launch import launch_if_needed
    from genforge.training.run import train_family

    if launch_if_needed(params.train, args.params, args.family):
        return  # trained by train.nproc_per_node processes under torchrun
    from genforge.tracking.runs import is_main_rank, tracked_training
    from genforge.training.lock import family_lock

    # Locked before the MLflow run: a second trainer must not mark the first one's run FAILED.
    with (
        family_lock(OUT.model_dir(args.family), args.family, enabled=is_main_rank()),
        tracked_training(params, args.family, OUT.prepared) as callbacks,  # MLflow child run
    ):
        train_family(
            params,
            args.family,
            prepared_dir=OUT.prepared,
            out_dir=OUT.model_dir(args.family),
            callbacks=callbacks,
            loss_plot=OUT.loss_plot(args.family),
        )


def cmd_featurize(params: Params, args: argparse.Namespace) -> None:
    from genforge.evaluation.featurizer import train_featurizer

    m = train_featurizer(
        params,
        prepared_dir=OUT.prepared,
        out_dir=OUT.featurizer,
        cache_dir=Path(params.evaluate.cache_dir),
    )
    print(
        f"featurizer ({m['objective']}): test accuracy {m['accuracy']:.4f} "
        f"(train {m['train_accuracy']:.4f}) after {m['steps']} steps in "
        f"{m['train_seconds']:.1f} s; calibration FID: floor {m['calibration_floor_fid']:.3g}, "
        f"blur {m['calibration_blur_over_floor']:.3g}x floor, shuffled "
        f"{m['calibration_shuffled_over_blur']:.3g}x blur, Gaussian "
        f"{m['calibration_gaussian_over_blur']:.3g}x blur -> {OUT.featurizer}"
    )


def cmd_evaluate(params: Params, args: argparse.Namespace) -> None:
    from genforge.evaluation.evaluate import evaluate_family, summary_line
    from genforge.tracking.runs import log_evaluation

    m = evaluate_family(
        params,
        args.family,
        prepared_dir=OUT.prepared,
        models_dir=OUT.folder("models"),
        featurizer_dir=OUT.featurizer,
        out_path=OUT.metrics(args.family),
        cache_dir=Path(params.evaluate.cache_dir),
        evals_dir=OUT.evals(args.family),
        curve_path=OUT.fid_plot(args.family),
    )
    print(summary_line(m) + f" -> {OUT.metrics(args.family)}")
    paths = {
        "metrics": OUT.metrics(args.family),
        "checkpoint": OUT.checkpoint(args.family),
        "evals": OUT.evals(args.family),
    }
    log_evaluation(params, args.family, m, paths, OUT.prepared)  # the family's MLflow run


def cmd_translate(params: Params, args: argparse.Namespace) -> None:
    from genforge.translation.stage import run_translation, summary_line

    m = run_translation(params, OUT, cache_dir=Path(params.evaluate.cache_dir))
    print(summary_line(m) + f" -> {OUT.metrics(TRANSLATION)}")


def cmd_report(params: Params, args: argparse.Namespace) -> None:
    from genforge.report.build import build_report

    summary = build_report(params)
    missing = [k for k, v in summary["figures"].items() if v != "ok"]
    print(
        f"wrote {OUT.reports / REPORT_PAGE} and {OUT.reports / REPORT_MD}: {len(summary['tables'])} tables, "
        f"{len(summary['figures']) - len(missing)} figures"
        + (f" ({len(missing)} not available: {', '.join(missing)})" if missing else "")
    )


def cmd_study(params: Params, args: argparse.Namespace) -> None:
    from genforge.studies.run import run_studies

    summary = run_studies(params)
    done = [k for k in ("domains", "transfer") if summary[k] is not None]
    print(f"wrote {OUT.studies} ({', '.join(done) or 'nothing configured'})")


def cmd_storage(params: Params, args: argparse.Namespace) -> None:
    if args.action == "check":
        from genforge.storage.check import check_storage

        print("\n".join(check_storage(params.storage, create_buckets=args.create_buckets)))
    elif args.action == "dvc-remote":
        from genforge.storage.dvc_remote import configure_dvc_remote

        print(f"default DVC remote: {configure_dvc_remote(params.storage)}")
    else:
        from genforge.storage.transfer import transfer

        print(f"dvc {args.action}: {transfer(args.action, params.storage)}")


def cmd_register(params: Params, args: argparse.Namespace) -> None:
    from genforge.registry.promote import register_and_promote
    from genforge.registry.translation import register_translation

    if args.model in ("all", "families"):
        print_gate(register_and_promote(params, list(params.models.families)))
    if args.model == "translation" or (args.model == "all" and params.translation.enabled):
        if args.model == "all" and not OUT.metrics(TRANSLATION).is_file():
            # `register` alone registers what was evaluated; --model translation insists
            print(f"{TRANSLATION}: not registered ({OUT.metrics(TRANSLATION)} is missing)")
            return
        print_translation_gate(register_translation(params))


def cmd_promote(params: Params, args: argparse.Namespace) -> None:
    if args.model == "translation":
        from genforge.registry.translation import promote_translation

        print_translation_gate(promote_translation(params, force=args.force, reason=args.reason))
        return
    from genforge.registry.promote import promote

    print_gate(promote(params, family=args.family, force=args.force, reason=args.reason))


def cmd_rollback(params: Params, args: argparse.Namespace) -> None:
    if args.model == "translation":
        from genforge.registry.translation import rollback_translation

        print_translation_gate(rollback_translation(params))
        return
    from genforge.registry.promote import rollback

    print_gate(rollback(params))


def cmd_serve(params: Params, args: argparse.Namespace) -> None:
    from genforge.serving.server import serve, serve_config

    cfg = serve_config(params.serve, host=args.host, port=args.port, poll_s=args.poll_s)
    serve(params, cfg, model=args.model)


def print_gate(report: dict) -> None:
    from genforge.registry.verdicts import verdict_text

    def who(e: dict | None) -> str:
        return f"{e['family']} v{e['version']}" if e else "none"

    for family, v in report["families"].items():
        print(f"{family}: {verdict_text(v)}")
    print(
        f"{report['registered_model']}@champion: {who(report['champion'])} "
        f"(was {who(report['champion_before'])}); gate report: {OUT.gate_report.with_suffix('.md')}"
    )


def print_translation_gate(report: dict | None) -> None:
    from genforge.registry.verdicts import verdict_text

    if report is None:
        print(f"{TRANSLATION}: not registered (translation.enabled is false)")
        return

    def who(e: dict | None) -> str:
        return f"v{e['version']}" if e else "none"

    if report.get("candidate"):
        print(f"{TRANSLATION}: {verdict_text(report['candidate'])}")
    print(
        f"{report['registered_model']}@champion: {who(report['champion'])} "
        f"(was {who(report['champion_before'])}); gate report: "
        f"{OUT.translation_gate.with_suffix('.md')}"
    )


COMMANDS: dict[str, tuple[Callable, str]] = {
    "ingest": (cmd_ingest, "snapshot the configured data source into data/raw (DVC-tracked)"),
    "prepare": (
        cmd_prepare,
        "resize, convert and split data/raw into data/prepared/{train,test}.npz",
    ),
    "train": (
        cmd_train,
        "train one model family; writes models/<family>/ (checkpoint, metrics, grid)",
    ),
    "featurize": (
        cmd_featurize,
        "train the domain classifier whose features FID & co. use; writes models/featurizer/",
    ),
    "evaluate": (
        cmd_evaluate,
        "score one family against the data, the floor and baselines; writes metrics/<family>.json",
    ),
    "translate": (
        cmd_translate,
        "train and score the image-to-image translation model (params.translation, CycleGAN): "
        "models/cyclegan/, metrics/cyclegan.json, evals/cyclegan/",
    ),
    "study": (
        cmd_study,
        "extra training for report tables 6-7 (report.transfer, report.datasets) into studies/",
    ),
    "report": (cmd_report, "write the comparison report: reports/index.html and report.md"),
    "register": (
        cmd_register,
        "log and register every evaluated family in MLflow, run the gate, promote the best; "
        "then the same for the translation model on its own registered model",
    ),
    "promote": (
        cmd_promote,
        "re-run the gate on the newest registered versions (--force --reason: promote anyway)",
    ),
    "rollback": (cmd_rollback, "swap the registry aliases champion and previous"),
    "serve": (
        cmd_serve,
        "serve models:/<registered model>@champion over HTTP (/invocations, /health, the page "
        "at /), following the alias (params.serve)",
    ),
    "storage": (
        cmd_storage,
        "storage (params.storage): `check` S3 endpoint, credentials and buckets; "
        "`dvc-remote` sets the default DVC remote; `push`/`pull` data with a clear diagnosis",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genforge",
        description="Train, judge and ship generative image models: every stage of the "
        "pipeline is one subcommand; params.yaml configures them all.",
    )
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (func, help_text) in COMMANDS.items():
        p = sub.add_parser(
            name, help=help_text, description=help_text[0].upper() + help_text[1:] + "."
        )
        p.set_defaults(func=func)
        if name == "train":
            p.add_argument(
                "--family", required=True, choices=FAMILIES, help="model family to train"
            )
        if name == "evaluate":
            p.add_argument(
                "--family", required=True, choices=FAMILIES, help="model family to evaluate"
            )
        if name in ("register", "promote", "rollback"):
            choices = ("all", "families", "translation") if name == "register" else None
            p.add_argument(
                "--model",
                choices=choices or ("families", "translation"),
                default=choices[0] if choices else "families",
                help="the dataset's registered model (families) or the translation's own "
                "(params.translation.name; default: %(default)s)",
            )
        if name == "promote":
            p.add_argument("--family", choices=FAMILIES, help="only this family's newest version")
            p.add_argument("--force", action="store_true", help="promote even if the gate fails")
            p.add_argument("--reason", help="why a forced promotion (required with --force)")
        if name == "serve":
            p.add_argument("--host", help="listen address (default: serve.host)")
            p.add_argument("--port", type=int, help="listen port (default: serve.port)")
            p.add_argument(
                "--poll-s", type=float, help="registry poll period in s (default: serve.poll_s)"
            )
            p.add_argument(
                "--model",
                choices=("families", "translation"),
                default="families",
                help="serve the dataset's registered model (families) or the translation's "
                "own (params.translation.name; default: %(default)s)",
            )
        if name == "storage":
            p.add_argument(
                "action",
                choices=("check", "dvc-remote", "push", "pull"),
                help="check the store; set the default DVC remote; dvc push/pull with a diagnosis",
            )
            p.add_argument(
                "--create-buckets", action="store_true", help="check: create missing buckets"
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        params = load_params(args.params)
    except ParamsError as exc:
        print(f"error: invalid params ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {exc.path}: {problem}", file=sys.stderr)
        return 2
    try:
        args.func(params, args)
    except GenforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
