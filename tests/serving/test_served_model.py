"""The served model is logged from code (issue 18, item 3): no pickle in the model, it
loads with pickle deserialization disabled, and it answers like before."""

from __future__ import annotations

import pytest
import torch

from genforge.training.run import train_family
from tests.conftest import tiny_family, tiny_params, tiny_prepared


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    prepared = tiny_prepared(tmp_path_factory)
    out = tmp_path_factory.mktemp("models") / "vae"
    params = tiny_params(["vae"], models={"vae": tiny_family("vae", conditional=True)})
    train_family(params, "vae", prepared, out, progress=False)
    return out / "checkpoint.pt"


@pytest.mark.slow
def test_logged_model_has_no_pickle_and_loads_with_pickles_disallowed(
    checkpoint, tmp_path, monkeypatch
):
    import mlflow

    from genforge.serving.pyfunc_model import log_sampler_model

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = mlflow.create_experiment("served", artifact_location=str(tmp_path / "artifacts"))
    with mlflow.start_run(experiment_id=exp):
        info = log_sampler_model(checkpoint, max_n=4)
    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "dl"))
    files = sorted(p.name for p in (tmp_path / "dl").rglob("*") if p.is_file())
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))], files
    assert "pyfunc_code.py" in files and "checkpoint.pt" in files

    # MLflow refuses any cloudpickled python_model with this set: loading must not need one.
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    loads, real_load = [], torch.load

    def recording_load(*args, **kwargs):  # the real torch.load, its weights_only noted
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    model = mlflow.pyfunc.load_model(local)
    assert loads == [True]  # the checkpoint, and nothing else, with weights_only
    out = model.predict([{"n": 3, "seed": 7, "label": 1}])
    assert list(out["label"]) == [1, 1, 1] and list(out["shape"][0]) == [3, 8, 8]
    again = model.predict([{"n": 3, "seed": 7, "label": 1}])
    assert list(again["png"]) == list(out["png"])  # seeded
    with pytest.raises(mlflow.exceptions.MlflowException, match="5 images requested; at most 4"):
        model.predict([{"n": 5}])
