"""One contract, every registered family: what the trainer, evaluation and serving rely on.

Every check runs on 8x8 grey and on 32x32 and 64x64 RGB images (the sizes users
bring); tiny widths and a few updates keep the module around a minute on a CPU.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from genforge.models import REGISTRY, GenerativeModel, Optimizers, build
from genforge.models.base import signed_to_uint8
from genforge.models.common import sampling

SHAPE = (1, 8, 8)
SHAPES = [SHAPE, (3, 32, 32), (3, 64, 64)]
CLASSES = 3
FAMILIES = sorted(REGISTRY)  # every package under models/: a new family is covered here


def has_likelihood(model: GenerativeModel) -> bool:
    return type(model).bits_per_dim is not GenerativeModel.bits_per_dim


def make(family: str, conditional: bool = True, shape=SHAPE, classes=CLASSES, **over):
    cls = REGISTRY[family]  # its tiny, fast settings come from the family itself
    cfg = cls.config_class(**{**cls.tiny, "conditional": conditional, **over})
    return build(family, cfg, shape, classes)


def batch(n: int = 8, shape=SHAPE, classes: int = CLASSES, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *shape), generator=g).float() / 127.5 - 1  # 8-bit grid
    return x, torch.randint(0, classes, (n,), generator=g)


def train(model: GenerativeModel, x, y, steps: int, seed: int = 0) -> list[dict[str, float]]:
    torch.manual_seed(seed)
    opt = Optimizers(model.configure_optimizers(), grad_clip=1.0)
    return [model.training_step(x, y, opt) for _ in range(steps)]


@pytest.fixture(
    scope="module",
    params=[(f, s) for s in SHAPES for f in FAMILIES],
    ids=lambda p: f"{p[0]}-{p[1][0]}x{p[1][1]}x{p[1][2]}",
)
def trained(request) -> GenerativeModel:
    """Each family at each size, conditional, after a few updates (so samples are not
    degenerate)."""
    family, shape = request.param
    model = make(family, shape=shape)
    x, y = batch(shape=shape)
    train(model, x, y, steps=3 if shape == SHAPE else 2)
    return model


def test_every_config_family_is_registered():
    from genforge.config import FAMILIES as CONFIGURED
    from genforge.config import ModelsConfig

    assert set(FAMILIES) == set(CONFIGURED)
    for name, cls in REGISTRY.items():
        assert cls.family == name
        assert type(ModelsConfig().family(name)) is cls.config_class


def test_sample_shape_dtype_range_and_mode(trained):
    assert trained.training
    s = trained.sample(5, generator=torch.Generator().manual_seed(0))
    assert (
        s.shape == (5, *trained.image_shape) and s.dtype == torch.uint8 and s.device.type == "cpu"
    )
    assert trained.training, "sample() must restore train mode"


def test_samples_are_deterministic_under_a_seed(trained):
    a = trained.sample(4, generator=torch.Generator().manual_seed(7))
    b = trained.sample(4, generator=torch.Generator().manual_seed(7))
    c = trained.sample(4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_losses_are_finite_python_floats():
    for family in FAMILIES:
        for conditional in (False, True):
            model = make(family, conditional=conditional)
            logs = train(model, *batch(), steps=2)
            for log in logs:
                assert log and all(type(v) is float and math.isfinite(v) for v in log.values())


def test_state_dict_round_trip_gives_identical_samples(trained):
    fresh = build(trained.family, trained.cfg, trained.image_shape, CLASSES)
    fresh.load_state_dict(trained.state_dict())
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(trained.sample(4, generator=g()), fresh.sample(4, generator=g()))


def test_ema_copy_works_like_the_trainer_makes_it(trained):
    ema = AveragedModel(trained, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)
    ema.update_parameters(trained)
    ema.update_parameters(trained)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(ema.module.sample(3, generator=g()), trained.sample(3, generator=g()))
    assert torch.equal(
        copy.deepcopy(trained).sample(3, generator=g()), trained.sample(3, generator=g())
    )


def test_labels_out_of_range_raise(trained):
    with pytest.raises(ValueError, match="labels"):
        trained.sample(2, labels=torch.tensor([0, CLASSES]))
    with pytest.raises(ValueError, match="labels"):
        trained.sample(2, labels=torch.tensor([-1, 0]))
    x, _ = batch(n=2, shape=trained.image_shape)
    opt = Optimizers(trained.configure_optimizers())
    with pytest.raises(ValueError, match="labels"):
        trained.training_step(x, torch.tensor([0, CLASSES]), opt)


def test_bits_per_dim(trained):
    x, y = batch(shape=trained.image_shape)
    bpd = trained.bits_per_dim(x, y)
    if has_likelihood(trained):
        assert isinstance(bpd, float) and math.isfinite(bpd) and bpd > 0
        assert bpd == trained.bits_per_dim(x, y), "bits_per_dim must be deterministic"
    else:
        assert bpd is None


def test_generator_parameters_count_the_sampling_network(trained):
    total = sum(p.numel() for p in trained.parameters())
    assert 0 < trained.generator_parameters() <= total


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 28, 28), (3, 16, 16)])
def test_other_image_shapes(family, shape):
    model = make(family, conditional=False, shape=shape)
    logs = train(model, *batch(n=4, shape=shape), steps=1)
    assert all(math.isfinite(v) for v in logs[0].values())
    s = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert s.shape == (2, *shape) and s.dtype == torch.uint8


@pytest.mark.parametrize("family", FAMILIES)
def test_conditional_family_on_one_class_data(family):
    """A user's one-class folder with the default conditional: true: every label is 0,
    training and sampling work, and any other label is refused by name."""
    model = make(family, conditional=True, shape=(3, 16, 16), classes=1)
    x, y = batch(n=4, shape=(3, 16, 16), classes=1)
    assert not y.any()
    logs = train(model, x, y, steps=1)
    assert all(math.isfinite(v) for v in logs[0].values())
    s = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 3, 16, 16)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 0\]"):
        model.sample(1, labels=torch.tensor([1]))


def test_conditional_family_without_classes_is_refused():
    with pytest.raises(ValueError, match="num_classes"):
        make("gan", conditional=True, classes=0)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_conditional_samples_honour_their_labels(family):
    """Class 0 dark, class 1 bright (brightness spread within each class, so a GAN has a
    distribution to match rather than two points): label-1 samples must be brighter."""
    torch.manual_seed(0)
    n = 32
    y = torch.arange(n) % 2
    level = torch.where(y == 1, 0.5, -0.5)[:, None, None, None]  # (n, 1, 1, 1)
    spread = 0.3 * (torch.rand(n, 1, 1, 1) - 0.5) + 0.05 * torch.randn(n, *SHAPE)
    x = (level + spread).clamp(-1, 1)  # (n, C, H, W)
    model = make(family, conditional=True, classes=2)
    train(model, x, y, steps=REGISTRY[family].contract_steps)
    labels = torch.tensor([0, 1] * 8)
    s = model.sample(16, labels=labels, generator=torch.Generator().manual_seed(0)).float()
    dark, bright = s[labels == 0].mean(), s[labels == 1].mean()
    # The data's class means differ by 127 grey levels; demand a quarter of that.
    assert bright - dark > 32, f"{family}: label 1 mean {bright:.1f} vs label 0 mean {dark:.1f}"


def test_a_latent_decodes_to_what_sample_draws(trained):
    """What the report and the page rely on: decode_latent of sample's own z is sample."""
    if not trained.offers("decode_latent"):
        assert trained.latent_dim is None
        return
    labels = torch.arange(3) % CLASSES
    z = trained.randn(3, trained.latent_dim, generator=torch.Generator().manual_seed(2))
    with sampling(trained):
        images = signed_to_uint8(trained.decode_latent(z, labels.to(trained.device)))
    drawn = trained.sample(3, labels=labels, generator=torch.Generator().manual_seed(2))
    assert torch.equal(images, drawn)
