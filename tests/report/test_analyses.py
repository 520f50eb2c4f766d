"""The report's analyses on real (tiny) checkpoints: inpainting keeps what is known,
interpolations walk between their endpoints, the VAE flags out-of-distribution images."""

from __future__ import annotations

import numpy as np
import torch

from genforge.data.prepare import load_prepared
from genforge.report import analyses
from genforge.report.load import NA
from genforge.report.speed import sweep_setting
from genforge.training.checkpoint import load_model
from genforge.training.run import train_family
from tests.conftest import tiny_params


def test_repaint_keeps_the_known_pixels_and_fills_the_holes(trained_tree):
    model = load_model(trained_tree / "models/diffusion/checkpoint.pt")
    x, y = load_prepared(trained_tree / "data/prepared", "test")
    x0 = analyses.to_float(x[:4])
    mask = analyses.masks(4, model.image_shape)
    labels = torch.from_numpy(y[:4])
    with torch.no_grad():
        out = analyses.repaint(model, x0, mask, labels, torch.Generator().manual_seed(0))
    known = mask.expand_as(x0).bool()
    assert torch.equal(out[known], x0[known])  # RePaint's last step copies x_0 where known
    assert not torch.allclose(out[~known], x0[~known])  # the holes are generated
    assert mask[0, 0].sum() == 64 - 16 and mask[1, 0].sum() == 32  # centre square, lower half


def test_slerp_stays_on_the_sphere_between_its_endpoints():
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    assert torch.allclose(analyses.slerp(a, b, 0.0), a) and torch.allclose(
        analyses.slerp(a, b, 1.0), b
    )
    mid = analyses.slerp(a, b, 0.5)
    assert torch.allclose(mid.norm(), torch.tensor(3.0)) and torch.allclose(mid[0, 0], mid[0, 1])


def test_interpolation_grid_has_one_row_per_class(trained_tree):
    import io

    from PIL import Image

    x, y = load_prepared(trained_tree / "data/prepared", "test")
    for family, columns in (("vae", analyses.INTERP_STEPS + 2), ("gan", analyses.INTERP_STEPS)):
        model = load_model(trained_tree / f"models/{family}/checkpoint.pt")
        img = Image.open(io.BytesIO(analyses.interpolate(model, x, y)))
        side = 3 * (8 + 1)  # 8x8 images, 1 pixel padding, scaled 3x
        assert (img.width - 3) // side == columns and (img.height - 3) // side == 4  # 4 classes


def test_a_trained_vae_scores_other_images_as_less_likely(prepared_dir, tmp_path):
    """Shapes test images (in distribution) against digits: AUROC near 1 after training."""
    vae = {"steps": 120, "batch_size": 8, "z_dim": 8, "base_channels": 8, "conditional": True}
    params = tiny_params(["vae"], models={"vae": vae})
    train_family(params, "vae", prepared_dir, tmp_path / "vae", progress=False)
    model = load_model(tmp_path / "vae" / "checkpoint.pt")
    x, _ = load_prepared(prepared_dir, "test")
    result = analyses.anomaly(model, params.data, x, 16, None)
    assert result["ood_source"] == "digits" and len(result["ood_scores"]) == 16
    assert result["ood_mean"] > result["id_mean"] and result["auroc"] > 0.9


def test_ood_images_match_the_training_shape():
    params = tiny_params(["vae"])
    x = analyses.ood_images(params.data, "digits", 5)
    assert x.shape == (5, 8, 8, 3) and x.dtype == np.uint8


def test_sweep_settings_beyond_the_schedule_are_not_available():
    assert sweep_setting(10, 20) == {"sampler": "ddim", "steps": 10, "eta": 0.0}
    assert sweep_setting("ancestral", 20) == {"sampler": "ancestral", "steps": 20}
    assert isinstance(sweep_setting(50, 20), NA)
