"""params.yaml validation: every invalid fixture fails with the message it declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from genforge.cli import main
from genforge.config import Params, ParamsError, load_params

CONFS = Path(__file__).parent / "confs"
VALID = sorted((CONFS / "valid").glob("*.yaml"))
INVALID = sorted((CONFS / "invalid").glob("*.yaml"))
REPO_PARAMS = Path(__file__).parents[1] / "params.yaml"


def expected_messages(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [ln.split("# expect:", 1)[1].strip() for ln in lines if ln.startswith("# expect:")]


def test_there_are_enough_invalid_cases():
    assert len(INVALID) >= 15
    assert all(expected_messages(p) for p in INVALID), "every invalid fixture declares # expect:"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixture_loads(path):
    assert isinstance(load_params(path), Params)


def test_repo_params_are_valid_and_explicit():
    """The shipped params.yaml validates and spells out every family it trains."""
    params = load_params(REPO_PARAMS)
    raw = REPO_PARAMS.read_text()
    for family in params.models.families:
        assert f"  {family}:" in raw


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture_names_each_problem(path):
    with pytest.raises(ParamsError) as info:
        load_params(path)
    problems = info.value.problems
    for expected in expected_messages(path):
        assert any(expected in p for p in problems), f"{expected!r} not in {problems}"
    # one line per problem, each naming the file it came from
    assert len(problems) == len(expected_messages(path))
    assert all("\n" not in p for p in problems)


def test_params_are_frozen():
    params = load_params(CONFS / "valid" / "tiny.yaml")
    with pytest.raises(Exception, match="frozen"):
        params.train.seed = 5


def test_cli_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "params.yaml"
    bad.write_text((CONFS / "invalid" / "several_problems.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["prepare"]) == 2
    err = capsys.readouterr().err
    assert "3 problem(s)" in err
    assert "params.yaml: data.image_size: 0 is not allowed" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_cli_missing_params_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--params", "nope.yaml", "ingest"]) == 2
    assert "nope.yaml: cannot read the params file" in capsys.readouterr().err


def test_error_lists_every_problem_for_the_user():
    with pytest.raises(ParamsError) as info:
        load_params(CONFS / "invalid" / "several_problems.yaml")
    assert str(info.value).count("several_problems.yaml:") == 3
