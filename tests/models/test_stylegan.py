"""What is specific to the stylegan family (the family contract covers the rest):
truncation, the noise modes, demodulation, style mixing, lazy R1 and the tracked w."""

from __future__ import annotations

import pytest
import torch

import genforge.models.stylegan as sg
from genforge.models import Optimizers, build
from genforge.models.common import sampling
from genforge.models.stylegan.networks import modulated_conv

SHAPE = (1, 16, 16)
CLASSES = 3


def make(**over) -> sg.Stylegan:
    torch.manual_seed(0)
    cfg = sg.StyleganConfig(**{**sg.Stylegan.tiny, "conditional": True, **over})
    return build("stylegan", cfg, SHAPE, CLASSES)


def batch(n: int = 8, classes: int = CLASSES, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *SHAPE, generator=g) * 2 - 1
    return x, torch.randint(0, classes, (n,), generator=g)


def train(model, steps: int, classes: int = CLASSES) -> list[dict[str, float]]:
    opt = Optimizers(model.configure_optimizers(), grad_clip=1.0)
    x, y = batch(classes=classes)
    return [model.training_step(x, y, opt) for _ in range(steps)]


@pytest.fixture(scope="module")
def trained() -> sg.Stylegan:
    model = make()
    train(model, 6)
    assert model.synthesis.layers[0].noise_strength.item() != 0  # noise inputs are used
    return model


def seed(s: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(s)


def test_psi_zero_gives_one_image_per_label(trained):
    labels = torch.tensor([1, 1, 1, 1])
    s = trained.sample(4, labels=labels, generator=seed(), psi=0.0, noise="const")
    assert all(torch.equal(s[0], s[i]) for i in range(1, 4))
    # the class's own centre: another label's psi = 0 image is another image
    other = trained.sample(1, labels=torch.tensor([2]), generator=seed(), psi=0.0)
    assert not torch.equal(s[0], other[0])
    untruncated = trained.sample(4, labels=labels, generator=seed(), psi=1.0)
    assert not torch.equal(untruncated[0], untruncated[1])


def test_psi_one_is_untruncated_and_smaller_psi_differs(trained):
    labels = torch.tensor([0, 1, 2, 0])
    z = trained.randn(4, trained.latent_dim, generator=seed(3))
    with sampling(trained):
        w = trained.mapping(z, labels)  # no truncation anywhere
        ws = w[:, None].expand(-1, trained.num_ws, -1)
        direct = trained.synthesis(ws, trained.synthesis.const_noise(4)).clamp(-1, 1)
    direct = ((direct + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(trained.sample(4, labels=labels, generator=seed(3), psi=1.0), direct)
    assert not torch.equal(trained.sample(4, labels=labels, generator=seed(3), psi=0.5), direct)


def test_random_noise_is_seeded_and_differs_from_const(trained):
    a = trained.sample(3, generator=seed(5), noise="random")
    assert torch.equal(a, trained.sample(3, generator=seed(5), noise="random"))
    assert not torch.equal(a, trained.sample(3, generator=seed(5), noise="const"))


def test_bad_psi_and_noise_are_refused_by_name(trained):
    with pytest.raises(ValueError, match="noise must be 'random' or 'const', got 'fixed'"):
        trained.sample(2, noise="fixed")
    with pytest.raises(ValueError, match="psi"):
        trained.sample(2, psi=float("nan"))
    with pytest.raises(ValueError, match=r"crossover must be in \[0, 6\]"):
        trained.style_mix(torch.zeros(1, 8), torch.zeros(1, 8), 7)


def test_demodulation_keeps_unit_variance():
    """StyleGAN2 eq. 3: unit-variance inputs give unit-variance outputs whatever the style."""
    g = seed(0)
    x = torch.randn(8, 64, 16, 16, generator=g)
    weight = torch.randn(32, 64, 3, 3, generator=g)
    style = torch.randn(8, 64, generator=g).mul(2).exp()  # scales from ~0.02 to ~50
    out = modulated_conv(x, weight, style, demodulate=True)
    inner = out[:, :, 1:-1, 1:-1]  # the zero padding lowers the border's variance
    assert 0.9 < inner.std().item() < 1.1
    per_sample = inner.std(dim=(1, 2, 3))
    assert per_sample.min() > 0.8 and per_sample.max() < 1.2
    assert modulated_conv(x, weight, style, demodulate=False).std().item() > 10


def test_style_mixing_crossover(trained):
    z_coarse = trained.randn(3, trained.latent_dim, generator=seed(1))
    z_fine = trained.randn(3, trained.latent_dim, generator=seed(2))
    labels = torch.tensor([0, 1, 2])
    coarse = trained.sample(3, labels=labels, generator=seed(1))
    fine = trained.sample(3, labels=labels, generator=seed(2))
    assert trained.num_ws == 6  # 16 px: 4x4 conv + 2 per level + the last toRGB
    assert torch.equal(trained.style_mix(z_coarse, z_fine, trained.num_ws, labels), coarse)
    assert torch.equal(trained.style_mix(z_coarse, z_fine, 0, labels), fine)
    mixed = trained.style_mix(z_coarse, z_fine, 3, labels)
    assert not torch.equal(mixed, coarse) and not torch.equal(mixed, fine)


def test_r1_runs_only_every_n_steps(monkeypatch):
    calls = []
    real_penalty = sg.r1_penalty

    def spy(real_logit, real):
        calls.append(int(model.steps_done))
        return real_penalty(real_logit, real)

    monkeypatch.setattr(sg, "r1_penalty", spy)
    model = make(r1_every=3, r1_gamma=10.0)
    logs = train(model, 7)
    assert calls == [0, 3, 6]
    r1 = [log["r1"] for log in logs]
    assert r1[0] > 0 and r1[0] == r1[1] == r1[2] != r1[3] == r1[4] == r1[5] != r1[6]
    # the schedule survives a checkpoint: steps_done is part of the state
    fresh = make(r1_every=3, r1_gamma=10.0)
    fresh.load_state_dict(model.state_dict())
    calls.clear()
    model = fresh
    train(fresh, 3)
    assert calls == [9]
    calls.clear()
    model = make(r1_gamma=0.0)
    train(model, 5)
    assert calls == []


def test_w_average_tracks_the_mapping_per_class():
    model = make()
    assert not model.w_avg.any()
    train(model, 4, classes=2)  # labels 0 and 1 only
    moved = model.w_avg.norm(dim=1)
    assert moved[0] > 0 and moved[1] > 0 and moved[2] == 0
    with sampling(model):
        z = torch.randn(4096, model.latent_dim, generator=seed(0))
        w = model.mapping(z, torch.zeros(4096, dtype=torch.long))
    # after 4 steps of beta 0.995 the average is 2 % of the way to the class's mean w
    expected = (1 - model.cfg.w_avg_beta**4) * w.mean(0)
    cos = torch.nn.functional.cosine_similarity(model.w_avg[0], expected, dim=0)
    assert cos > 0.95


def test_truncation_and_style_mixing_are_capabilities(trained):
    """The report and the page ask `offers(...)`, not the family name."""
    assert sg.Stylegan.offers("truncation") and sg.Stylegan.offers("style_mix")
    assert trained.truncation(0.6) == {"psi": 0.6}
    with pytest.raises(ValueError, match="psi"):
        trained.truncation(float("nan"))
    from genforge.models.gan import Gan

    assert not Gan.offers("truncation") and not Gan.offers("style_mix")


def test_style_mixing_grid_has_a_header_row_and_column(trained):
    import io

    from PIL import Image

    from genforge.report.analyses import MIX_SOURCES, style_mixing

    png = style_mixing(trained, seed=0)
    image = Image.open(io.BytesIO(png))
    cells = MIX_SOURCES + 1
    assert image.width == image.height and image.width >= cells * SHAPE[1] * 3
    assert style_mixing(trained, seed=0) == png  # seeded
