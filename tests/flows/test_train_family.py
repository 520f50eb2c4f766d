"""`train-family` (the gpu pool's deployment) takes stage names from its caller."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flows.retrain import train_family_flow

from genforge.errors import GenforgeError
from tests.flows.conftest import ROOT


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_an_injected_stage_name_raises_and_runs_no_command(repo, tmp_path):
    marker = tmp_path / "F"
    with pytest.raises(GenforgeError, match="unknown stage"):
        train_family_flow.fn(repo=str(repo), family="x", stages=[f"train@x; touch {marker} #"])
    assert not marker.exists()


def test_a_stage_of_another_family_is_refused_before_any_stage_runs(repo):
    with pytest.raises(GenforgeError, match="'train@vae' is not a stage of family 'gan'"):
        train_family_flow.fn(repo=str(repo), family="gan", stages=["evaluate@gan", "train@vae"])
