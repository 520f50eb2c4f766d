"""`genforge evaluate`: metrics/<family>.json in the shared contract, images, clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from genforge.cli import main
from genforge.data.prepare import load_prepared
from genforge.evaluation.evaluate import (
    EvaluationError,
    bits_per_dim,
    evaluate_family,
    score_model,
)
from genforge.evaluation.featurizer import to_nchw
from genforge.evaluation.reference import KINDS
from genforge.evaluation.scoring import METRIC_KEYS
from genforge.training.checkpoint import load_model
from genforge.training.run import train_family
from tests.evaluation.conftest import digits_params

CANDIDATE_KEYS = {
    "fid", "fid_ci_low", "fid_ci_high", "kid", "kid_std", "precision", "recall", "density",
    "coverage", "classes_covered", "num_classes", "class_hist_distance", "label_accuracy",
    "c2st_accuracy", "c2st_fooled", "samples_per_s", "params", "generator_params",
    "bits_per_dim", "bits_per_dim_n", "n_samples", "seed", "feature_extractor", "data_hash", "family",
    "copying", "fid_rel", "kid_rel", "precision_rel", "recall_rel", "coverage_rel",
}  # fmt: skip
REFERENCE_KEYS = {
    "fid", "kid", "kid_std", "precision", "recall", "density", "coverage",
    "classes_covered", "class_hist_distance",
}  # fmt: skip


def evaluate(params, root, models, tmp_path, name="vae.json"):
    return evaluate_family(
        params,
        "vae",
        root / "data/prepared",
        models,
        root / "models/featurizer",
        tmp_path / "metrics" / name,
        tmp_path / "cache",
        evals_dir=tmp_path / "evals/vae",
    )


def test_metrics_file_follows_the_contract(digits, trained_vae, tmp_path):
    params, root = digits
    m = evaluate(params, root, trained_vae, tmp_path)
    assert json.loads((tmp_path / "metrics/vae.json").read_text()) == m
    assert set(m) >= CANDIDATE_KEYS
    assert set(m["reference"]) == set(KINDS)  # the calibration references
    for kind, ref in m["reference"].items():
        assert set(ref) >= REFERENCE_KEYS and set(METRIC_KEYS) <= set(ref), kind
    assert m["family"] == "vae" and m["n_samples"] == params.evaluate.n_samples
    assert m["reference"]["gaussian"]["n_samples"] == params.evaluate.n_samples
    assert m["reference"]["floor"]["n_samples"] == params.evaluate.n_samples  # 200 < test split
    assert m["num_classes"] == 10 and 0.0 <= m["label_accuracy"] <= 1.0  # conditional
    assert m["bits_per_dim"] > 0 and m["samples_per_s"] > 0
    assert m["generator_params"] < m["params"]
    assert m["feature_extractor"].startswith("genforge-domain:")
    assert m["fid_ci_low"] <= m["fid"] <= m["fid_ci_high"]
    # every number is readable against the floor and the baselines
    assert m["reference"]["floor"]["fid"] < m["reference"]["noise"]["fid"]
    assert m["reference"]["floor"]["fid_rel"] == 0 and m["reference"]["blur"]["fid_rel"] == 1
    for name in ("samples.png", "fooled.png", "copies.png"):
        assert Image.open(tmp_path / "evals/vae" / name).size[0] > 0


def test_bits_per_dim_averages_a_seeded_subset_of_at_most_max_n_test_images(digits, trained_vae):
    """A large test split costs a bounded likelihood pass: the same seeded subset for every
    candidate, all of it (in order) when it is no larger than evaluate.bits_per_dim_max."""
    params, root = digits
    model = load_model(trained_vae / "vae" / "checkpoint.pt")
    x, y = load_prepared(root / "data/prepared", "test")
    x, y = to_nchw(x), torch.from_numpy(y)
    whole, n_whole = bits_per_dim(model, x, y, 64, max_n=len(x), seed=0)
    some, n_some = bits_per_dim(model, x, y, 64, max_n=50, seed=0)
    again, _ = bits_per_dim(model, x, y, 64, max_n=50, seed=0)
    assert n_whole == len(x) and n_some == 50 and some == again
    assert some != whole and abs(some - whole) < 0.2 * whole  # an estimate of the same mean


def test_evaluation_is_deterministic_and_reuses_the_reference(digits, trained_vae, tmp_path):
    params, root = digits
    first = evaluate(params, root, trained_vae, tmp_path, "a.json")
    second = evaluate(params, root, trained_vae, tmp_path, "b.json")
    timing = ("eval_seconds", "samples_per_s", "sample_seconds")
    strip = lambda m: {k: v for k, v in m.items() if k not in timing and k != "reference"}  # noqa: E731
    assert strip(first) == strip(second)
    assert first["reference"] == second["reference"]  # read from the cache


def test_score_model_gives_candidate_keys_for_any_sample_count(digits, trained_vae, tmp_path):
    params, root = digits
    model = load_model(trained_vae / "vae/checkpoint.pt")
    m = score_model(
        model,
        params,
        root / "data/prepared",
        root / "models/featurizer",
        tmp_path,
        n_samples=60,
        seed=3,
    )
    assert set(m) >= CANDIDATE_KEYS and "reference" not in m
    assert m["n_samples"] == 60 and m["seed"] == 3 and m["family"] == "vae"


def test_a_model_trained_on_other_data_is_refused(digits, tmp_path):
    params, root = digits
    other = digits_params(data={"max_per_class": 50})
    from genforge.data.ingest import ingest
    from genforge.data.prepare import prepare

    ingest(other.data, tmp_path / "raw")
    prepare(other.data, tmp_path / "raw", tmp_path / "prepared")
    train_family(other, "vae", tmp_path / "prepared", tmp_path / "models/vae", progress=False)
    with pytest.raises(EvaluationError, match="was trained on data .* retrain it"):
        evaluate(params, root, tmp_path / "models", tmp_path)


def test_cli_evaluate(digits, trained_vae, tmp_path, monkeypatch, capsys):
    params, root = digits
    shutil.copytree(root / "data/prepared", tmp_path / "data/prepared")
    shutil.copytree(root / "models/featurizer", tmp_path / "models/featurizer")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(json.dumps(params.model_dump(mode="json")))
    assert main(["evaluate", "--family", "vae"]) == 1  # not trained yet
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no checkpoint here" in err[0]
    shutil.copytree(trained_vae / "vae", tmp_path / "models/vae")
    assert main(["evaluate", "--family", "vae"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("vae: FID ") and "floor" in out and "metrics/vae.json" in out
    assert json.loads((tmp_path / "metrics/vae.json").read_text())["family"] == "vae"
    assert (tmp_path / "evals/vae/fooled.png").is_file()
    assert (tmp_path / params.evaluate.cache_dir).is_dir()


def test_a_diverged_models_null_metrics_still_print():
    """NaN metrics are written as null; the stage's summary line must not crash on them."""
    from genforge.evaluation.evaluate import summary_line

    m = {"family": "gan", "fid": None, "fid_ci_low": None, "kid": float("nan"),
         "reference": {"floor": {"fid": 0.7}, "blur": {"fid": None}}}  # fmt: skip
    line = summary_line(m)
    assert line.startswith("gan: FID n/a (floor 0.7, blur n/a") and "KID n/a" in line
