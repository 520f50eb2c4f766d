"""The CycleGAN networks, loss pieces, replay buffer and learning-rate schedule."""

from __future__ import annotations

import pytest
import torch

from genforge.translation.cyclegan import CycleGan, ReplayBuffer, linear_decay, lsgan_loss


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 16, 16), (3, 32, 32), (3, 64, 64)])
def test_generators_keep_the_shape_and_discriminators_score_patches(shape):
    m = CycleGan(shape, base_channels=4, res_blocks=1, d_channels=4)
    x = torch.rand(2, *shape) * 2 - 1
    for net in (m.g, m.f):
        y = net(x)
        assert y.shape == x.shape and y.abs().max() <= 1
    for d in (m.d_a, m.d_b):
        scores = d(x)
        assert scores.shape[:2] == (2, 1) and scores.shape[2] >= 2  # a grid of patches


def test_translate_maps_uint8_to_uint8_both_ways_and_checks_its_input():
    m = CycleGan((1, 16, 16), base_channels=4, res_blocks=1, d_channels=4)
    x = torch.randint(0, 256, (5, 1, 16, 16), dtype=torch.uint8)
    for direction in ("a2b", "b2a"):
        assert m.translate(x, direction).dtype == torch.uint8
    with pytest.raises(ValueError, match="direction 'ab' is not one of a2b, b2a"):
        m.translate(x, "ab")
    with pytest.raises(ValueError, match=r"uint8 images \(N, 1, 16, 16\)"):
        m.translate(x.float(), "a2b")
    with pytest.raises(ValueError, match="below the 8 px"):
        CycleGan((1, 4, 4))


def test_lr_is_constant_for_the_first_half_then_linear_to_zero():
    steps = 100
    factors = [linear_decay(s, steps) for s in range(steps + 1)]
    assert all(f == 1.0 for f in factors[:50])
    tail = factors[50:]
    diffs = {round(a - b, 9) for a, b in zip(tail, tail[1:], strict=False)}
    assert diffs == {0.02} and tail[-1] == 0.0  # equal steps down to exactly 0 at `steps`


def test_replay_buffer_holds_at_most_its_size_and_returns_a_mix():
    pool = ReplayBuffer(50, torch.Generator().manual_seed(0))
    first = torch.arange(50.0).view(50, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: the new images come back
    old = 0
    for k in range(1, 21):  # 20 batches of 10, batch k filled with -k
        batch = torch.full((10, 1, 1, 1), -float(k))
        out = pool.query(batch)
        assert out.shape == batch.shape and len(pool) == 50
        old += (out != -k).sum().item()  # images stored by earlier queries
    assert 60 < old < 140  # each new image is swapped for a stored one with probability 1/2
    assert (
        torch.stack([im for im, _ in pool.images]) >= 0
    ).sum() < 10  # the first fill has been replaced
    assert torch.equal(ReplayBuffer(0, torch.Generator()).query(first), first)  # size 0: off


def test_lsgan_targets():
    s = torch.tensor([1.0, 0.0])
    assert lsgan_loss(s, 1.0).item() == pytest.approx(0.5)
    assert lsgan_loss(torch.ones(3), 1.0).item() == 0.0


def test_skip_generators_start_at_the_identity():
    m = CycleGan((1, 16, 16), base_channels=4, res_blocks=1, d_channels=4, g_skip=True)
    x = torch.rand(3, 1, 16, 16) * 2 - 1
    assert torch.allclose(m.g(x), 0.99 * x, atol=1e-5)
    assert torch.allclose(m.f(x), 0.99 * x, atol=1e-5)


def test_the_replay_buffer_keeps_each_image_with_its_label():
    pool = ReplayBuffer(8, torch.Generator().manual_seed(0))
    for k in range(6):  # image value == its label, so a mixed-up pair shows
        labels = torch.arange(4) + 4 * k
        images, out = pool.query_labelled(labels.float().view(4, 1, 1, 1), labels)
        assert torch.equal(images.view(-1).long(), out)
    images, out = pool.query_labelled(torch.zeros(3, 1, 1, 1), None)  # unlabelled: None back
    assert out is None and images.shape == (3, 1, 1, 1)


def test_a_conditional_discriminator_scores_the_class_and_demands_it():
    m = CycleGan((1, 16, 16), base_channels=4, res_blocks=1, d_channels=4, d_classes=3)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    same = m.d_b(x, torch.tensor([0, 0]))
    assert not torch.equal(same, m.d_b(x, torch.tensor([2, 2])))  # the label is an input
    with pytest.raises(ValueError, match="over 3 classes got labels=False"):
        m.d_b(x)
    with pytest.raises(ValueError, match="over 0 classes got labels=True"):
        CycleGan((1, 16, 16), base_channels=4, res_blocks=1, d_channels=4).d_a(
            x, torch.tensor([0, 1])
        )


def test_a_conditional_step_trains_on_the_labels_and_refuses_without_them():
    from genforge.models.base import Optimizers

    torch.manual_seed(0)
    m = CycleGan((1, 8, 8), base_channels=4, res_blocks=1, d_channels=4, d_classes=3)
    opt = Optimizers(m.configure_optimizers(2e-4, (0.5, 0.999)))
    pools = (ReplayBuffer(4, torch.Generator()), ReplayBuffer(4, torch.Generator()))
    a, b = torch.rand(2, 4, 1, 8, 8) * 2 - 1
    y = (torch.tensor([0, 1, 2, 0]), torch.tensor([2, 2, 1, 0]))
    before = m.d_b.net[0].weight[:, 1:].clone()  # the one-hot planes' weights
    losses = m.training_step(a, b, opt, pools, labels=y)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert not torch.equal(before, m.d_b.net[0].weight[:, 1:])  # D learnt from the labels
    assert [label for _, label in pools[1].images] == list(y[0])  # G(a) pooled as y_a
    with pytest.raises(ValueError, match="labels are needed exactly"):
        m.training_step(a, b, opt, pools)
