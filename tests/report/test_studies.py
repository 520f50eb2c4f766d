"""`genforge study`: the transfer and multi-domain studies behind report tables 6 and 7,
trained and scored for real at test scale."""

from __future__ import annotations

import json

import pytest
import torch

from genforge.config import FAMILIES
from genforge.errors import GenforgeError
from genforge.report.build import build_report
from genforge.studies.run import run_studies, seed_checkpoint
from genforge.training.checkpoint import load_checkpoint
from genforge.training.run import train_family
from tests.conftest import tiny_family
from tests.report.conftest import report_params

# The project's data is the tiny shapes; digits capped at 12 per class keeps the second
# domain as small. study_jobs 2: the families' runs go to two worker processes.
STUDIES = {
    "datasets": ["digits", "shapes"],
    "transfer": {},
    "study_steps": 4,
    "study_samples": 10,
    "study_jobs": 2,
}


def test_unconfigured_studies_only_say_why(tree):
    summary = run_studies(report_params(), tree)
    assert summary == {
        "domains": None,
        "transfer": None,
        "reasons": {
            "domains": "report.datasets is empty",
            "transfer": "report.transfer is not set",
        },
    }
    report = build_report(report_params(), tree)
    tables = {t["number"]: t for t in report["tables"]}
    assert tables["7"]["unavailable"] == "report.datasets is empty; set report.datasets"


@pytest.mark.slow
def test_the_main_runs_models_fill_tables_6_and_7(tree):
    """The default studies: table 7's row for the project's own data is the main run
    (nothing retrained), the other source is trained at study_steps, and table 6
    fine-tunes the main run's models on it against those very runs from scratch."""
    gan = tiny_family("gan", conditional=True)
    params = report_params(report=STUDIES, data={"max_per_class": 12}, models={"gan": gan})
    summary = run_studies(params, tree)
    assert summary["domains"]["shapes"] == {"main_run": True}
    digits = summary["domains"]["digits"]
    assert set(digits["families"]) == set(FAMILIES) and digits["num_classes"] == 10
    assert all(r["fid"] > 0 and r["n_samples"] == 10 for r in digits["families"].values())
    transfer = summary["transfer"]
    assert (transfer["from_source"], transfer["to_source"]) == ("shapes", "digits")
    assert transfer["from_main_run"] and transfer["pretrain_steps"]["vae"] == 6
    for f in FAMILIES:
        scratch, tuned = transfer["families"][f]["scratch"], transfer["families"][f]["finetuned"]
        assert scratch == digits["families"][f]  # the domain run is the baseline: trained once
        assert scratch["steps"] == tuned["steps"] == 4 and scratch["fid"] != tuned["fid"]
    # 4 shapes vs 10 digit classes: the conditional label embeddings start fresh
    assert "generator.embed" in transfer["families"]["gan"]["reinitialised"]
    assert not list((tree / "studies").rglob("checkpoint.pt"))  # scored, then dropped
    on_disk = json.loads((tree / "studies/studies.json").read_text())
    assert on_disk["transfer"]["families"]["vae"]["finetuned"]["fid"] == tuned_fid(summary, "vae")

    report = build_report(params, tree)
    tables = {t["number"]: t for t in report["tables"]}
    assert [r[0] for r in tables["6"]["rows"]] == list(FAMILIES)
    assert {r[1] for r in tables["6"]["rows"]} == {"shapes (main run)"}
    rows7 = tables["7"]["rows"]
    assert [(r[0], r[1]) for r in rows7] == [("digits", f) for f in FAMILIES] + [
        ("shapes (main run)", f) for f in FAMILIES
    ]
    main_gan = next(r for r in rows7 if r[:2] == ["shapes (main run)", "gan"])
    fixture = json.loads((tree / "metrics/gan.json").read_text())
    assert main_gan[2:6] == [6, 100, fixture["fid"], fixture["reference"]["floor"]["fid"]]
    md = (tree / "reports/report.md").read_text()
    assert "shapes → digits" in md


@pytest.mark.slow
def test_pretraining_on_another_source_fine_tunes_this_projects_data(tree):
    """from_source set: pre-trained there, fine-tuned on this project's data (in-process)."""
    study = {"datasets": [], "transfer": {"from_source": "digits", "steps": 5}, "study_jobs": 1}
    study |= {"study_steps": 4, "study_samples": 10}
    params = report_params(report=study, data={"max_per_class": 12}, models={"families": ["vae"]})
    transfer = run_studies(params, tree)["transfer"]
    assert (transfer["from_source"], transfer["to_source"]) == ("digits", "shapes")
    assert not transfer["from_main_run"] and transfer["pretrain_steps"] == 5
    vae = transfer["families"]["vae"]
    assert vae["scratch"]["steps"] == vae["finetuned"]["steps"] == 4
    assert vae["scratch"]["fid"] != vae["finetuned"]["fid"]


def test_transfer_from_the_projects_own_source_is_refused(tree):
    params = report_params(report={"transfer": {"from_source": "shapes"}})
    with pytest.raises(GenforgeError, match="is data.source itself"):
        run_studies(params, tree)
    assert not (tree / "studies").exists()


def tuned_fid(summary: dict, family: str) -> float:
    return summary["transfer"]["families"][family]["finetuned"]["fid"]


def test_fine_tuning_starts_from_the_pretrained_weights(trained_tree, tmp_path):
    """A seeded step-0 checkpoint is resumed by train_family: matching tensors come from
    the pre-trained model, the others from a fresh initialisation."""
    params = report_params()
    prepared = trained_tree / "data/prepared"
    source = trained_tree / "models/vae/checkpoint.pt"
    reinit = seed_checkpoint(params, "vae", prepared, tmp_path / "vae", source)
    assert reinit == []  # same data, same shapes: everything is copied
    seeded = load_checkpoint(tmp_path / "vae/checkpoint.pt")
    pre = load_checkpoint(source)["ema"]
    assert all(torch.equal(seeded["model"][k], pre[k]) for k in pre)
    summary = train_family(params, "vae", prepared, tmp_path / "vae", progress=False)
    assert summary["resumed_from"] == 0 and summary["steps"] == 6


def test_a_missing_main_run_model_fails_the_stage_naming_it(tree):
    """Table 6 fine-tunes the main run's models: without one the stage stops (from its
    worker process), naming the checkpoint, and leaves no studies/ behind."""
    (tree / "models/vae/checkpoint.pt").unlink()
    study = {"datasets": [], "transfer": {}, "study_steps": 2, "study_samples": 10}
    params = report_params(
        report=study | {"study_jobs": 2},
        data={"max_per_class": 12},
        models={"families": ["gan", "vae"]},
    )
    with pytest.raises(
        GenforgeError, match=r"main run's vae: .*models/vae/checkpoint.pt is missing"
    ):
        run_studies(params, tree)
    assert not (tree / "studies").exists()
