"""The page's operations on every family, asked of the model object: which controls a
family gets, and that each operation does what the page says (no server)."""

from __future__ import annotations

import pytest
import torch

from genforge.config import FAMILIES
from genforge.models import build
from genforge.serving import generate
from tests.conftest import tiny_family, tiny_params

SHAPE = (3, 8, 8)
# what each family offers, by what its object has (a latent, sampler steps, a denoiser)
EXPECTED = {
    "gan": {"latent": True, "steps": False, "inpaint": False},
    "vae": {"latent": True, "steps": False, "inpaint": False},
    "vaegan": {"latent": True, "steps": False, "inpaint": False},
    "diffusion": {"latent": False, "steps": True, "inpaint": True},
    "pixelcnn": {"latent": False, "steps": False, "inpaint": False},
    "stylegan": {"latent": True, "steps": False, "inpaint": False},
}


def tiny_model(family: str):
    params = tiny_params([family], models={family: tiny_family(family, conditional=True)})
    torch.manual_seed(0)
    return build(family, params.models.family(family), SHAPE, 4).eval()


@pytest.mark.parametrize("family", FAMILIES)
def test_capabilities_come_from_the_object_and_the_grid_is_the_models_own_sample(family):
    model = tiny_model(family)
    caps = generate.capabilities(model)
    assert {k: bool(caps[k]) for k in EXPECTED[family]} == EXPECTED[family]
    assert caps["truncation"] == caps["latent"] and caps["num_classes"] == 4
    images = generate.grid(model, 4, seed=5, label=2)
    sampled = model.sample(
        4, labels=torch.full((4,), 2), generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(images, sampled) and images.dtype == torch.uint8
    assert images.shape == (4, *SHAPE)


@pytest.mark.parametrize("family", [f for f in FAMILIES if EXPECTED[f]["latent"]])
def test_interpolation_starts_and_ends_at_the_two_seeds_and_truncation_applies(family):
    model = tiny_model(family)
    ends = generate.interpolate(model, seed_a=3, seed_b=4, label=1, ts=[0.0, 0.5, 1.0])
    for t, seed in ((0, 3), (2, 4)):
        assert torch.equal(ends[t], generate.grid(model, 1, seed=seed, label=1)[0])
    assert not torch.equal(ends[0], ends[1])
    z = generate.truncated_normal(256, 8, 0.5, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5
    truncated = generate.grid(model, 4, seed=5, label=1, truncation=0.5)
    assert truncated.shape == (4, *SHAPE)
    assert not torch.equal(truncated, generate.grid(model, 4, seed=5, label=1))


def test_diffusion_sampler_steps_and_inpainting_keep_the_known_pixels():
    model = tiny_model("diffusion")
    caps = generate.capabilities(model)
    assert caps["steps"] == {"default": 5, "max": 20}
    two = generate.grid(model, 2, seed=1, label=0, steps=2)
    gen, labels = torch.Generator().manual_seed(1), torch.zeros(2, dtype=torch.long)
    assert torch.equal(two, model.sample(2, labels=labels, generator=gen, steps=2))
    source = generate.grid(model, 1, seed=9, label=3)[0]
    out = generate.inpaint(model, source, label=3, seed=0, draws=2)
    assert out.shape == (4, *SHAPE) and torch.equal(out[0], source)
    known = slice(None), slice(0, 2), slice(None)  # the rows above the centre square
    assert torch.equal(out[2][known], source[known]) and torch.equal(out[3][known], source[known])


@pytest.mark.parametrize("family", FAMILIES)
def test_psi_is_the_models_own_truncation(family):
    """The page's psi goes through `model.truncation` (stylegan's w-space trick)."""
    model = tiny_model(family)
    caps = generate.capabilities(model)
    assert caps["psi"] == (family == "stylegan")
    if not caps["psi"]:
        return
    images = generate.grid(model, 4, seed=5, label=1, psi=0.5)
    sampled = model.sample(
        4, labels=torch.full((4,), 1), generator=torch.Generator().manual_seed(5), psi=0.5
    )
    assert torch.equal(images, sampled)
    assert not torch.equal(images, generate.grid(model, 4, seed=5, label=1))
