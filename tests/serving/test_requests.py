"""Validation of serving payloads (no server): what is accepted, what is refused and why."""

from __future__ import annotations

import pandas as pd
import pytest

from genforge.serving.pyfunc_model import SampleRequest, parse_requests


def parse(payload, max_n=16, classes=4, conditional=True):
    return parse_requests(payload, max_n, classes, conditional)


def test_accepts_dicts_rows_and_dataframes():
    assert parse({"n": 3}) == [SampleRequest(3, 0, None)]
    rows = [{"n": 2, "seed": 5, "label": 1}, {"n": 1, "seed": 0, "label": None}]
    assert parse(rows) == [SampleRequest(2, 5, 1), SampleRequest(1, 0, None)]
    frame = pd.DataFrame({"n": [2.0], "seed": [1.0], "label": [float("nan")]})  # MLflow's doubles
    assert parse(frame) == [SampleRequest(2, 1, None)]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"n": 17}, "17 images requested; at most 16"),
        ([{"n": 9}, {"n": 8}], "17 images requested; at most 16"),
        ({"n": 0}, "n must be an integer >= 1"),
        ({"seed": 1}, "n must be an integer >= 1"),
        ({"n": 2.5}, "n must be an integer"),
        ({"n": "many"}, "n must be an integer"),
        ({"n": True}, "n must be an integer"),
        ({"n": 1, "label": 4}, "unknown label 4; this model knows 0..3"),
        ({"n": 1, "label": -1}, "unknown label -1"),
        ({"n": 1, "seed": -3}, "seed must be in"),
        ({"n": 1, "colour": "red"}, "unknown field(s) ['colour']"),
        ([], "empty request"),
        ("n=3", "expected rows of"),
    ],
)
def test_refuses_with_a_clear_message(payload, message):
    with pytest.raises(ValueError, match=None) as info:
        parse(payload)
    assert message in str(info.value)


def test_unconditional_models_take_no_label():
    assert parse({"n": 1, "label": None}, conditional=False) == [SampleRequest(1, 0, None)]
    with pytest.raises(ValueError, match="unconditional; label must be null"):
        parse({"n": 1, "label": 0}, conditional=False)


def test_the_served_models_requirements_pin_this_environment():
    from importlib.metadata import version

    from genforge.serving.pyfunc_model import pip_requirements

    pins = pip_requirements()
    for dist in ("torch", "torchvision", "mlflow", "pydantic", "pillow", "numpy", "pyyaml"):
        assert f"{dist}=={version(dist)}" in pins


def test_psi_is_taken_only_by_a_model_with_truncation():
    rows = [{"n": 2, "psi": 0.5}, {"n": 1, "psi": None}]
    assert parse_requests(rows, 16, 4, True, truncates=True) == [
        SampleRequest(2, 0, None, 0.5),
        SampleRequest(1, 0, None, None),
    ]
    with pytest.raises(ValueError, match="row 0: this model has no truncation; psi must be null"):
        parse({"n": 2, "psi": 0.5})
    for bad in (1.5, -0.1, "0.5", True):
        with pytest.raises(ValueError, match=r"row 0: psi must be a number in \[0, 1\]"):
            parse_requests({"n": 2, "psi": bad}, 16, 4, True, truncates=True)
