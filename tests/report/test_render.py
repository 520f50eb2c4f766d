"""The report renders every table and figure from the pipeline's outputs, and names
what is missing instead of crashing."""

from __future__ import annotations

import json
import re
import shutil

from genforge.cli import main
from genforge.config import FAMILIES
from genforge.report.build import build_report
from tests.report.conftest import report_params

FIGURES = (
    [f"samples-{f}" for f in FAMILIES]
    + [
        "fid_vs_step",
        "pr_scatter",
        "loss_curves",
        "interpolation-vae",
        "interpolation-vaegan",
        "interpolation-gan",
        "inpainting",
        "anomaly",
        "sweep",
        "style_mixing",
    ]
    + [f"fooled-{f}" for f in FAMILIES]
)
TABLES = [str(n) for n in range(1, 12)]  # 11: the translation model (not available here)


def outputs(root):
    reports = root / "reports"
    return (reports / "index.html").read_text(), (reports / "report.md").read_text()


def test_every_table_and_figure_is_in_html_and_markdown(tree):
    summary = build_report(report_params(), tree)
    html, md = outputs(tree)
    for n in TABLES:
        assert re.search(rf"<h2>Table {n}: ", html), f"table {n} missing from the HTML"
        assert f"## Table {n}: " in md, f"table {n} missing from the markdown"
    for key in FIGURES:
        assert summary["figures"][key] == "ok", (key, summary["figures"][key])
        assert re.search(
            rf'<figure id="fig-{key}"><img alt="[^"]*"( width="\d+")? src="data:image/png;base64,',
            html,
        ), key
        assert f"](figures/{key}.png)" in md
        assert (tree / "reports" / "figures" / f"{key}.png").read_bytes().startswith(b"\x89PNG")
    # self-contained: no request can leave the page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_tables_show_the_measured_numbers(tree):
    summary = build_report(report_params(), tree)
    tables = {t["number"]: t for t in summary["tables"]}
    comparison = {row[0]: row for row in tables["1"]["rows"]}
    assert comparison["vae ★"][-1] == "passed"  # the gate's champion, marked
    assert comparison["gan"][-1].startswith("failed: fid 2.0 > fid_max 2.5")
    assert "best fidelity" in comparison["gan"][5] and "worst fidelity" in comparison["vaegan"][6]
    fidelity = {row[0]: row for row in tables["3"]["rows"]}
    assert fidelity["gan"][1] == 2.0 and fidelity["real vs real (floor)"][1] == 0.2
    assert fidelity["gan"][6] == 2.0 / 60.0  # FID relative to the Gaussian baseline
    speed = {row[0]: row for row in tables["5"]["rows"]}
    assert all(speed[f][2] > 0 for f in FAMILIES)  # CPU images/s measured here
    training = {row[0]: row for row in tables["10"]["rows"]}
    assert training["diffusion"][1] == 6 and training["diffusion"][-1] == "no"
    anomaly = summary["analyses"]["anomaly"]
    assert 0 <= anomaly["auroc"] <= 1 and anomaly["ood_source"] == "digits"
    ddim2, ddim5, ddim50, ancestral = tables["5b"]["rows"]  # the real scorer, 10 samples each
    assert ddim2[:2] == ["ddim", 2] and ddim2[2] > 0 and ddim2[7] == 10
    assert ancestral[:2] == ["ancestral", 20] and ancestral[2] > 0
    assert ddim50[1] == {"not_available": "DDIM 50 steps > the model's 20 timesteps"}
    # table 5c: stylegan's truncation trade-off, each psi scored by the real scorer
    psis = [row[0] for row in tables["5c"]["rows"]]
    assert psis == [1.0, 0.8, 0.6, 0.4]
    assert all(row[1] > 0 and 0 <= row[2] <= 1 and row[6] == 10 for row in tables["5c"]["rows"])
    assert {"sweep", "truncation", "style-mixing", "inpainting", "anomaly"} <= set(
        summary["analyses"]["seconds"]
    )
    inpaint = summary["analyses"]["inpainting"]
    assert inpaint["hole_mae"] >= 0 and inpaint["images"] == 8
    _, md = outputs(tree)
    assert "| vae ★ | 3 |" in md


def test_missing_inputs_render_as_not_available(tree):
    """No gate, no FID curves, no fooled grids, one family unevaluated and one untrained."""
    shutil.rmtree(tree / "gate")
    shutil.rmtree(tree / "evals")
    shutil.rmtree(tree / "plots")
    (tree / "metrics" / "pixelcnn.json").unlink()
    shutil.rmtree(tree / "models" / "vaegan")
    summary = build_report(report_params(), tree)
    html, md = outputs(tree)
    for n in TABLES:
        assert f"## Table {n}: " in md
    figs = summary["figures"]
    assert "fid_vs_step.json" in figs["fid_vs_step"]
    assert "vaegan/checkpoint.pt is missing" in figs["interpolation-vaegan"]
    assert "samples.png is missing" in figs["samples-vaegan"]
    assert "fooled.png is missing" in figs["fooled-gan"]
    assert "gate report" in html and "metrics/pixelcnn.json is missing" in html
    tables = {t["number"]: t for t in summary["tables"]}
    assert tables["6"]["unavailable"].startswith("studies (genforge study)")
    pixelcnn = next(r for r in tables["3"]["rows"] if r[0] == "pixelcnn")
    assert pixelcnn[1] == {
        "not_available": f"evaluation metrics: {tree}/metrics/pixelcnn.json is missing"
    }


def test_cli_writes_the_report(tree, monkeypatch, capsys):
    monkeypatch.chdir(tree)
    (tree / "params.yaml").write_text(json.dumps(report_params().model_dump(mode="json")))
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    assert "wrote reports/index.html and reports/report.md: 14 tables" in out  # 1-11, 3b, 5b, 5c
    assert (tree / "reports" / "report.json").is_file()
    # no silent minutes: each analysis says when it starts and how long it took
    assert "report: sweep ..." in out and re.search(r"report: sweep done in \d+\.\d s", out)
    assert re.search(r"report: scoring \S+ \(\d+ samples\)", out)  # each sweep setting


def test_a_report_without_diffusion_says_why_its_analyses_are_missing(tree):
    """The flow's default may leave a family out; its analyses are NA, never a crash."""
    params = report_params(models={"families": ["gan", "vae"]})
    summary = build_report(params, tree)
    for name in ("inpainting", "sweep"):
        assert "diffusion is not in models.families" in summary["figures"][name]
    assert "stylegan is not in models.families" in summary["figures"]["style_mixing"]
    tables = {t["number"]: t for t in summary["tables"]}
    assert "stylegan is not in models.families" in tables["5c"]["unavailable"]
