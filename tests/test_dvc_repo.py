"""Stage commands: names validated against dvc.yaml and params.yaml, run as argv.

The flow runs a stage's declared command itself (not through `dvc repro`), and stage
names reach it from Prefect flow parameters, which anyone who can reach the API sets.
So a name must be one dvc.yaml declares (a `foreach` item one params.yaml configures)
and the command runs without a shell.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from genforge import dvc_repo
from genforge.errors import GenforgeError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """dvc.yaml and params.yaml of this checkout, families gan and vae."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"]["families"] = ["gan", "vae"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_stage_argv_is_the_declared_command_with_the_item_as_one_argument(repo):
    assert dvc_repo.stage_argv("train@gan", repo) == ["genforge", "train", "--family", "gan"]
    assert dvc_repo.stage_argv("evaluate@vae", repo) == [
        *("genforge", "evaluate", "--family", "vae")
    ]
    assert dvc_repo.stage_argv("prepare", repo) == ["genforge", "prepare"]


def test_known_stages_expand_foreach_over_the_configured_families(repo):
    known = dvc_repo.known_stages(repo)
    assert {"ingest", "prepare", "train@gan", "train@vae", "evaluate@vae", "report"} <= set(known)
    assert "train@diffusion" not in known  # in dvc.yaml's foreach only when configured


@pytest.mark.parametrize(
    "stage",
    [
        "train@x; touch F #",  # a command after the stage's
        "train@gan && id",
        "train@$(id)",
        "trian@gan",  # no such stage
        "train@diffusion",  # a family params.yaml does not configure
        "train",  # a foreach stage needs its item
        "prepare@gan",  # ... and a plain one has none
    ],
)
def test_a_stage_dvc_yaml_does_not_declare_is_refused_naming_what_is_allowed(repo, stage):
    with pytest.raises(GenforgeError) as err:
        dvc_repo.stage_argv(stage, repo)
    assert repr(stage) in str(err.value)
    assert "train@gan" in str(err.value) and "evaluate@vae" in str(err.value)


def test_run_stage_refuses_an_injected_name_and_runs_nothing(repo, tmp_path):
    marker = tmp_path / "F"
    with pytest.raises(GenforgeError, match="unknown stage"):
        dvc_repo.run_stage(f"train@x; touch {marker} #", repo)
    assert not marker.exists()


def test_run_stage_runs_the_command_without_a_shell(repo, tmp_path):
    """A declared command with shell syntax in it reaches the program as plain arguments."""
    marker = tmp_path / "G"
    spec = yaml.safe_load((repo / "dvc.yaml").read_text())
    spec["stages"]["probe"] = {"cmd": f"python -c 'import sys; print(sys.argv)' ; touch {marker}"}
    (repo / "dvc.yaml").write_text(yaml.safe_dump(spec))
    dvc_repo.run_stage("probe", repo)
    assert not marker.exists()
