"""CycleGAN (Zhu et al. 2017, arXiv 1703.10593) at small scale: G: A -> B, F: B -> A.

The networks follow the paper's appendix 7.2 with widths and depths derived from the
image side: ResNet generators (Johnson et al. 2016) with reflection padding and
instance norm, and PatchGAN discriminators (Isola et al. 2017) that score
overlapping patches. The objective is eq. 3: LSGAN adversarial terms (sec. 4,
"Training details", after Mao et al. 2017) + lambda * cycle-consistency L1 (eq. 2) +
0.5 * lambda * identity L1 (sec. 5.2, after Taigman et al. 2017). The discriminators
see fakes through a 50-image replay buffer (sec. 4, after Shrivastava et al. 2017).

Images are float in [-1, 1], (B, C, H, W); `translate` maps uint8 to uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genforge.models.base import Optimizers, signed_to_uint8
from genforge.models.common import sampling

DIRECTIONS = ("a2b", "b2a")  # a2b: G (A -> B), b2a: F (B -> A)
MIN_SIDE = 8  # smaller images leave the PatchGAN no patch


def downsamplings(side: int) -> int:
    """Stride-2 convolutions in a generator: the bottleneck at side/2 (16 px) or side/4.

    The paper uses 2 at 128/256 px; at 16 px a 4x4 bottleneck leaves the 3x3 ResNet
    blocks' reflection padding almost nothing to reflect, so 16 px gets one.
    """
    n = 1 if side < 32 else 2
    if side % (2**n):
        raise ValueError(f"image side {side} must be divisible by {2**n} for the generator")
    return n


def norm(channels: int) -> nn.Module:
    # Instance norm (Ulyanov et al. 2016), as CycleGAN uses; no running statistics, so
    # train and eval mode compute the same thing.
    return nn.InstanceNorm2d(channels, affine=True)


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with instance norm, plus the input (R_k)."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), norm(c), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), norm(c),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-k, d2k, (d4k,) R x n, (u2k,) uk, c7s1-C (appendix 7.2), output tanh."""

    def __init__(
        self,
        channels: int,
        side: int,
        base: int,
        res_blocks: int,
        down: int | None = None,
        skip: bool = False,
    ):
        super().__init__()
        self.skip = skip
        down = downsamplings(side) if down is None else down
        if side % (2**down):
            raise ValueError(f"image side {side} must be divisible by {2**down} (g_down={down})")
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(channels, base, 7), norm(base), nn.ReLU(True),
        ]  # fmt: skip
        c = base
        for _ in range(down):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), norm(2 * c), nn.ReLU(True)]
            c *= 2
        layers += [ResnetBlock(c) for _ in range(res_blocks)]
        for _ in range(down):
            # fractionally-strided convolution, as in the paper (u_k)
            up = nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1)
            layers += [up, norm(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, channels, 7)]
        if skip:  # start as (almost) the identity: the last layer adds nothing yet
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        h = self.net(x)
        if self.skip:
            # a global skip in tanh's pre-activation: G(x) = tanh(atanh(0.99 x) + h(x)), so
            # training starts from G(x) ~ x and moves each image only as far as the
            # losses ask (content kept; cf. SimGAN's self-regularised refiner,
            # Shrivastava et al. 2017 sec. 2.1). Not in the CycleGAN paper.
            h = h + torch.atanh(0.99 * x)
        return torch.tanh(h)  # (B, C, H, W) in [-1, 1]


class PatchDiscriminator(nn.Module):
    """C_k 4x4 convolutions (stride 2, then one of stride 1), LeakyReLU 0.2, instance norm
    except on the first, then a 1-channel 4x4 convolution: one LSGAN score per patch.

    The paper's 70x70 PatchGAN has 3 stride-2 layers at 256 px; here the count follows
    the side (8 px: 1, 16 px: 2, 32 px and up: 3), so a patch covers about a quarter
    of the image or more, as in the paper, and at least 2x2 patches remain.

    With `classes` > 0 it is class-conditional, as the conditional GAN's discriminator
    (Mirza & Osindero 2014, arXiv 1411.1784) and pix2pix's (Isola et al. 2017) take
    their condition: the class as one-hot planes concatenated to the image. Not in
    the CycleGAN paper; see `CycleGan`.
    """

    def __init__(
        self, channels: int, side: int, base: int, strided: int | None = None, classes: int = 0
    ):
        super().__init__()
        self.classes = classes
        if side < MIN_SIDE:
            raise ValueError(f"image side {side} is below the {MIN_SIDE} px CycleGan supports")
        if strided is None:
            strided = 1 if side < 16 else 2 if side < 32 else 3
        layers: list[nn.Module] = [
            nn.Conv2d(channels + classes, base, 4, 2, 1), nn.LeakyReLU(0.2, True),
        ]  # fmt: skip
        c = base
        for i in range(1, strided + 1):
            stride = 2 if i < strided else 1
            cout = base * min(2**i, 8)
            layers += [nn.Conv2d(c, cout, 4, stride, 1), norm(cout), nn.LeakyReLU(0.2, True)]
            c = cout
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x (B, C, H, W); y (B,) class indices, required when conditional and then only."""
        if (y is None) != (self.classes == 0):
            raise ValueError(
                f"a discriminator over {self.classes} classes got labels={y is not None}"
            )
        if y is not None:
            planes = F.one_hot(y, self.classes).to(x.dtype)[:, :, None, None]  # (B, K, 1, 1)
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)
        return self.net(x)  # (B, 1, h, w): one score per patch


class ReplayBuffer:
    """The last `size` generated images; D is updated on a mix of old and new fakes.

    As in the authors' implementation of Shrivastava et al. 2017 (sec. 3.2): while
    the buffer fills, every new image is stored and returned; then each new image is,
    with probability 1/2, swapped for a random stored one (the stored one is returned,
    the new one kept), else returned as is. Draws come from `generator`. `query_labelled`
    keeps each image's class with it, for a class-conditional discriminator.
    """

    def __init__(self, size: int, generator: torch.Generator):
        self.size = size
        self.generator = generator
        self.images: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    def query(self, batch: Tensor) -> Tensor:
        return self.query_labelled(batch, None)[0]

    def query_labelled(self, batch: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """(images, their labels or None) to show D: new ones, or stored ones swapped in."""
        if self.size == 0:
            return batch, labels
        items = zip(
            batch.detach(), labels if labels is not None else [None] * len(batch), strict=True
        )
        out = []
        for item in items:
            if len(self.images) < self.size:
                self.images.append((item[0].clone(), item[1]))
                out.append(item)
            elif torch.rand((), generator=self.generator) < 0.5:
                i = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[i])
                self.images[i] = (item[0].clone(), item[1])
            else:
                out.append(item)
        images = torch.stack([image for image, _ in out])
        return images, None if labels is None else torch.stack([label for _, label in out])


@dataclass
class Semantic:
    """Semantic consistency (CyCADA, Hoffman et al. 2018, arXiv 1711.03213, eq. 4): a frozen
    classifier of the *source* domain must still see the source image's class in its
    translation, CE(f_A(G(a)), y_a) + CE(f_B(F(b)), y_b). Each direction is steered by
    its source domain's classifier and judged (evaluate.py) by the target domain's, so
    the content score is not the training signal."""

    weight: float
    classify_a: nn.Module  # trained on A's train split, frozen: (features, logits)
    classify_b: nn.Module
    labels_a: Tensor | None = None  # (B,) classes of this step's batch of A
    labels_b: Tensor | None = None

    def loss(self, fake_b: Tensor, fake_a: Tensor) -> Tensor:
        _, logits_ab = self.classify_a(fake_b)  # G(a) read by A's classifier
        _, logits_ba = self.classify_b(fake_a)  # F(b) read by B's classifier
        return F.cross_entropy(logits_ab, self.labels_a) + F.cross_entropy(logits_ba, self.labels_b)


def lsgan_loss(scores: Tensor, target: float) -> Tensor:
    """Least-squares GAN loss (Mao et al. 2017) against target 1 (real) or 0 (fake)."""
    return F.mse_loss(scores, torch.full_like(scores, target))


def linear_decay(step: int, steps: int) -> float:
    """LR factor: 1 for the first half of training, then linearly to 0 at `steps` (sec. 4)."""
    half = steps // 2
    if step < half:
        return 1.0
    return max(0.0, (steps - step) / max(steps - half, 1))


class CycleGan(nn.Module):
    """Generators g (A -> B), f (B -> A); discriminators d_b (on B), d_a (on A).

    Args:
        image_shape: (C, H, W), C 1 or 3, H == W.
        base_channels / res_blocks: generator width and depth; g_down: its stride-2
            convolutions (None: `downsamplings(side)`).
        d_channels: discriminator width; d_strided: its stride-2 layers (None: from the side).
        lambda_cycle / lambda_identity: weights of eq. 3; identity is lambda_identity x lambda_cycle.
        d_classes: > 0 makes both discriminators class-conditional (`PatchDiscriminator`),
            for two labelled domains with the same classes; training then takes each
            batch's labels. A discriminator that judges "a typeset 4" rather than "a
            typeset digit" rejects a 4 translated into a 9: cycle consistency alone
            allows such a permutation of the classes (F can map it back), and on
            handwritten <-> typeset digits the plain objective learned one (content
            preserved 0.71 / 0.78). The generators stay unconditional: translating
            needs no label. An extension of the paper's objective, off with 0.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        base_channels: int = 32,
        res_blocks: int = 3,
        d_channels: int = 32,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        d_strided: int | None = None,
        g_down: int | None = None,
        g_skip: bool = False,
        d_classes: int = 0,
    ):
        super().__init__()
        c, h, w = image_shape
        if h != w or c not in (1, 3):
            raise ValueError(
                f"CycleGan needs square images with 1 or 3 channels, got {image_shape}"
            )
        self.args = {
            "image_shape": [c, h, w], "base_channels": base_channels, "res_blocks": res_blocks,
            "d_channels": d_channels, "lambda_cycle": lambda_cycle,
            "lambda_identity": lambda_identity, "d_strided": d_strided,
            "g_down": g_down, "g_skip": g_skip, "d_classes": d_classes,
        }  # fmt: skip
        self.g = ResnetGenerator(c, h, base_channels, res_blocks, g_down, g_skip)
        self.f = ResnetGenerator(c, h, base_channels, res_blocks, g_down, g_skip)
        self.d_b = PatchDiscriminator(c, h, d_channels, d_strided, d_classes)
        self.d_a = PatchDiscriminator(c, h, d_channels, d_strided, d_classes)

    def configure_optimizers(self, lr: float, betas: tuple[float, float]) -> dict:
        """Adam on both generators together and on both discriminators together (sec. 4)."""
        gens = [*self.g.parameters(), *self.f.parameters()]
        discs = [*self.d_a.parameters(), *self.d_b.parameters()]
        return {"g": torch.optim.Adam(gens, lr, betas), "d": torch.optim.Adam(discs, lr, betas)}

    def training_step(
        self,
        a: Tensor,
        b: Tensor,
        opt: Optimizers,
        pools: tuple[ReplayBuffer, ReplayBuffer],
        semantic: Semantic | None = None,
        labels: tuple[Tensor, Tensor] | None = None,
    ) -> dict[str, float]:
        """One update of G and F (eq. 3, plus `semantic`'s term when given), then of D_A
        and D_B on buffered fakes. `labels` (y_a, y_b): the batches' classes, given
        exactly when the discriminators are class-conditional; a translation keeps
        its source's class, so D_B judges G(a) as class y_a and D_A judges F(b) as y_b."""
        if (labels is None) != (self.args["d_classes"] == 0):
            raise ValueError("labels are needed exactly when the discriminators are conditional")
        ya, yb = labels if labels is not None else (None, None)
        lam, lam_id = self.args["lambda_cycle"], self.args["lambda_identity"]
        fake_b, fake_a = self.g(a), self.f(b)  # (B, C, H, W) each
        # adversarial terms, LSGAN form of eq. 1 (G minimises (D(G(x)) - 1)^2)
        adv = lsgan_loss(self.d_b(fake_b, ya), 1.0) + lsgan_loss(self.d_a(fake_a, yb), 1.0)
        # cycle consistency, eq. 2: F(G(a)) ~ a and G(F(b)) ~ b
        cycle = F.l1_loss(self.f(fake_b), a) + F.l1_loss(self.g(fake_a), b)
        # identity, sec. 5.2: a generator fed its own target domain should change nothing
        identity = F.l1_loss(self.g(b), b) + F.l1_loss(self.f(a), a)
        loss_g = adv + lam * cycle + lam_id * lam * identity
        sem = semantic.loss(fake_b, fake_a) if semantic is not None else None
        if sem is not None:
            loss_g = loss_g + semantic.weight * sem
        opt.step("g", loss_g)  # backward into g and f only (Optimizers.step's inputs)
        pool_a, pool_b = pools
        (old_b, old_yb), (old_a, old_ya) = (
            pool_b.query_labelled(fake_b, ya),
            pool_a.query_labelled(fake_a, yb),
        )
        # D objective halved (sec. 4) so D learns more slowly than G
        loss_d_b = 0.5 * (
            lsgan_loss(self.d_b(b, yb), 1.0) + lsgan_loss(self.d_b(old_b, old_yb), 0.0)
        )
        loss_d_a = 0.5 * (
            lsgan_loss(self.d_a(a, ya), 1.0) + lsgan_loss(self.d_a(old_a, old_ya), 0.0)
        )
        opt.step("d", loss_d_a + loss_d_b)
        return {
            "loss_g": loss_g.item(),
            "loss_adv": adv.item(),
            "loss_cycle": cycle.item(),
            "loss_identity": identity.item(),
            "loss_d_a": loss_d_a.item(),
            "loss_d_b": loss_d_b.item(),
            **({"loss_semantic": sem.item()} if sem is not None else {}),
        }

    def generator(self, direction: str) -> nn.Module:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
        return self.g if direction == "a2b" else self.f

    def translate(self, images: Tensor, direction: str, batch_size: int = 256) -> Tensor:
        """uint8 (N, C, H, W) -> their translations, uint8 (N, C, H, W) on the CPU."""
        c, h, w = self.args["image_shape"]
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != (c, h, w):
            raise ValueError(
                f"translate expects uint8 images (N, {c}, {h}, {w}), "
                f"got {images.dtype} {tuple(images.shape)}"
            )
        net = self.generator(direction)
        device = next(self.parameters()).device
        out = []
        with sampling(self):
            for chunk in images.split(batch_size):
                x = chunk.to(device).float() / 127.5 - 1.0
                out.append(signed_to_uint8(net(x)))
        return torch.cat(out) if out else images.clone()

    def generator_parameters(self) -> int:
        return sum(p.numel() for p in [*self.g.parameters(), *self.f.parameters()])
