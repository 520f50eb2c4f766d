"""Gated PixelCNN (van den Oord et al. 2016, arXiv 1606.05328) over `levels` pixel levels.

Data: images in [-1, 1] are rounded to the nearest of `levels` evenly spaced values
(so levels = 256 reproduces 8-bit data exactly, and -1/1 stay black/white); the model
predicts a categorical over the levels per pixel and channel. `bits_per_dim` is the
exact NLL of that quantized data.

Masks: a vertical stack sees all rows above (kernel rows below the centre masked,
and the centre row too in the first layer) and a horizontal stack sees the pixels to
the left in the row (centre masked in the first layer); the vertical stack feeds the
horizontal one, so the receptive field has no blind spot (§2.2, Fig. 1).

Colour (RGB): the channels of one pixel are conditionally independent given all
previous pixels (every channel of each), p(x_i | x_<i) = p(r_i | x_<i) p(g_i | x_<i)
p(b_i | x_<i), one categorical per channel from the same features (tested: a pixel's
logits see no channel of that pixel). The original PixelCNN orders R -> G -> B within
a pixel with channel-group masks (van den Oord et al. 2016, arXiv 1601.06759 §3.4);
we do not: sampling stays one step per pixel, not three, and colour correlations
within a pixel are learnt only through its context, so the NLL is a little higher
and single pixels can be off-colour. Sampling is H x W sequential steps: 16x at 64
px what it is at 16 px (benchmarks/train_speed.py).
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from genforge.models.base import FamilyConfig, GenerativeModel, Optimizers, signed_to_uint8
from genforge.models.common import check_labels, sampling
from genforge.sections import PosInt


class PixelCnnConfig(FamilyConfig):
    levels: Annotated[int, Field(ge=2, le=256)] = 16
    hidden: PosInt = 64
    layers: PosInt = 8
    first_kernel: PosInt = 7  # odd; the first (centre-masked) layer
    kernel: PosInt = 3  # odd; the other gated layers

    @model_validator(mode="after")
    def _odd_kernels(self) -> PixelCnnConfig:
        for key in ("first_kernel", "kernel"):
            if getattr(self, key) % 2 == 0:
                raise ValueError(f"models.pixelcnn.{key} must be odd, got {getattr(self, key)}")
        return self


class MaskedConv2d(nn.Conv2d):
    """A convolution whose kernel is multiplied by a fixed 0/1 mask (a non-saved buffer).

    All-zero border rows and columns of the mask are cropped from the kernel and the
    padding is shifted to match, which computes the same function as the full masked
    kernel with fewer multiply-adds (a 3x3 vertical kernel becomes 2x3).
    """

    def __init__(self, cin: int, cout: int, mask: Tensor):
        kh, kw = mask.shape
        rows, cols = mask.any(dim=1).nonzero().flatten(), mask.any(dim=0).nonzero().flatten()
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
        cropped = mask[r0 : r1 + 1, c0 : c1 + 1]
        super().__init__(cin, cout, tuple(cropped.shape))
        # (left, right, top, bottom) so that output (i, j) is centred as with the full
        # kernel and "same" padding; a negative entry crops instead of padding.
        self.pad = (kw // 2 - c0, c1 - kw // 2, kh // 2 - r0, r1 - kh // 2)
        self.register_buffer("mask", cropped[None, None].float(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(F.pad(x, self.pad), self.weight * self.mask, self.bias)


def vertical_mask(k: int, mask_center: bool) -> Tensor:
    """k x k mask keeping the rows above the centre (and the centre row unless masked)."""
    mask = torch.ones(k, k)
    mask[k // 2 + 1 :] = 0
    if mask_center:
        mask[k // 2] = 0
    return mask


def horizontal_mask(k: int, mask_center: bool) -> Tensor:
    """1 x k mask keeping the pixels left of the centre (and the centre unless masked)."""
    mask = torch.ones(1, k)
    mask[0, k // 2 + 1 :] = 0
    if mask_center:
        mask[0, k // 2] = 0
    return mask


def gate(h: Tensor) -> Tensor:
    """tanh(a) * sigmoid(b) over the two halves of the channels, eq. 2."""
    a, b = h.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One gated layer with vertical and horizontal stacks and a class bias (Fig. 2, eq. 4)."""

    def __init__(self, cin: int, hidden: int, k: int, num_classes: int, first: bool):
        super().__init__()
        self.first = first
        self.v_conv = MaskedConv2d(cin, 2 * hidden, vertical_mask(k, first))
        self.h_conv = MaskedConv2d(cin, 2 * hidden, horizontal_mask(k, first))
        self.v_to_h = nn.Conv2d(2 * hidden, 2 * hidden, 1)
        self.h_out = nn.Conv2d(hidden, hidden, 1)
        # Class-conditional bias V^T h added before the gate of both stacks, eq. 4.
        self.cond = nn.Embedding(num_classes, 4 * hidden) if num_classes > 0 else None

    def cond_bias(self, y: Tensor | None) -> tuple[Tensor | float, Tensor | float]:
        """The class biases (B, 2h, 1, 1) of the vertical and horizontal stacks (0 if none)."""
        if self.cond is None:
            return 0.0, 0.0
        cv, ch = self.cond(y)[:, :, None, None].chunk(2, dim=1)
        return cv, ch

    def vertical(self, v: Tensor, cv: Tensor | float) -> tuple[Tensor, Tensor]:
        """Vertical stack: (next layer's v, this layer's pre-gate features for v_to_h)."""
        v_feat = self.v_conv(v)  # (B, 2h, H, W); row i sees input rows < i only
        return gate(v_feat + cv), v_feat

    def horizontal(self, h: Tensor, v_feat: Tensor, ch: Tensor | float) -> Tensor:
        """Horizontal stack on the rows of `h`, given the vertical features of those rows."""
        h_feat = self.h_conv(h) + self.v_to_h(v_feat) + ch  # (B, 2h, rows, W)
        h_new = self.h_out(gate(h_feat))
        return h_new if self.first else h + h_new  # residual on the horizontal stack

    def forward(self, v: Tensor, h: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        cv, ch = self.cond_bias(y)
        v_new, v_feat = self.vertical(v, cv)
        return v_new, self.horizontal(h, v_feat, ch)


class PixelCnn(GenerativeModel):
    """Gated PixelCNN with a categorical over `levels` per subpixel; optimizer "pixelcnn"."""

    family = "pixelcnn"
    config_class = PixelCnnConfig
    tiny = dict(hidden=8, layers=2, levels=4, first_kernel=3, lr=1e-2)
    contract_steps = 100

    def __init__(self, cfg: PixelCnnConfig, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__(cfg, image_shape, num_classes)
        c = self.image_shape[0]
        k = num_classes if cfg.conditional else 0
        self.layers = nn.ModuleList(
            [GatedLayer(c, cfg.hidden, cfg.first_kernel, k, first=True)]
            + [
                GatedLayer(cfg.hidden, cfg.hidden, cfg.kernel, k, first=False)
                for _ in range(cfg.layers - 1)
            ]
        )
        self.head = nn.Sequential(
            nn.ELU(),
            nn.Conv2d(cfg.hidden, cfg.hidden, 1),
            nn.ELU(),
            nn.Conv2d(cfg.hidden, c * cfg.levels, 1),
        )

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"pixelcnn": torch.optim.Adam(self.parameters(), lr=self.cfg.lr)}

    # ----------------------------------------------------------- quantization
    def quantize(self, x: Tensor) -> Tensor:
        """[-1, 1] floats -> level indices in [0, levels - 1] (nearest level)."""
        return ((x.clamp(-1, 1) + 1) / 2 * (self.cfg.levels - 1)).round().long()

    def dequantize(self, idx: Tensor) -> Tensor:
        """Level indices -> [-1, 1] floats (the network's input and the sample output)."""
        return idx.float() / (self.cfg.levels - 1) * 2 - 1

    # ---------------------------------------------------------------- network
    def network(self, x: Tensor, y: Tensor | None) -> Tensor:
        """Float images (B, C, H, W) -> logits (B, levels, C, H, W); causal in raster order."""
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, y)
        return self.head_logits(h)

    def head_logits(self, h: Tensor) -> Tensor:
        """Horizontal-stack output (B, hidden, H', W) -> logits (B, levels, C, H', W)."""
        out = self.head(h)  # (B, C * levels, H', W)
        b, _, hh, ww = out.shape
        return out.view(b, self.image_shape[0], self.cfg.levels, hh, ww).transpose(1, 2)

    def logits(self, idx: Tensor, y: Tensor | None) -> Tensor:
        """Level indices (B, C, H, W) -> logits (B, levels, C, H, W)."""
        return self.network(self.dequantize(idx), y)

    def nll(self, x: Tensor, y: Tensor | None) -> Tensor:
        """Mean NLL in nats per subpixel of the quantized `x`."""
        idx = self.quantize(x)
        return F.cross_entropy(self.logits(idx, y).float(), idx)

    def _labels(self, y: Tensor) -> Tensor | None:
        if not self.cfg.conditional:
            return None
        check_labels(y, self.num_classes)
        return y

    def training_step(self, x: Tensor, y: Tensor, opt: Optimizers) -> dict[str, float]:
        loss = self.nll(x, self._labels(y))
        opt.step("pixelcnn", loss)
        return {"loss": loss.item(), "bpd": loss.item() / math.log(2)}

    def bits_per_dim(self, x: Tensor, y: Tensor) -> float:
        """Exact NLL of `x` quantized to `levels` levels, in bits per subpixel."""
        y = self._labels(y)
        with sampling(self):
            return self.nll(x.to(self.device), y).item() / math.log(2)

    def sample(
        self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Autoregressive sampling in raster order, one pixel (all channels) per step.

        Uniforms come from `generator` on the CPU up front; each pixel inverts the CDF
        of its categorical. The vertical stack of row i sees only rows above it, so it
        runs once per row (on rows 0..i); the horizontal stack sees only the pixels to
        the left in its row, so each pixel runs it on that row up to the pixel. Same
        result as the full network per pixel (tested), about 10x fewer multiply-adds at 16x16.
        """
        labels = self.default_labels(n, labels)
        c, h, w = self.image_shape
        u = torch.rand(n, c, h, w, generator=generator).to(self.device)  # (n, C, H, W)
        idx = torch.zeros(n, c, h, w, dtype=torch.long, device=self.device)
        with sampling(self):
            biases = [layer.cond_bias(labels) for layer in self.layers]  # once, not per pixel
            for i in range(h):
                v, v_rows = self.dequantize(idx[:, :, : i + 1]), []
                for layer, (cv, _) in zip(self.layers, biases, strict=True):
                    v, v_feat = layer.vertical(v, cv)
                    v_rows.append(v_feat[:, :, i : i + 1])  # (n, 2h, 1, W)
                for j in range(w):
                    hs = self.dequantize(idx[:, :, i : i + 1, : j + 1])  # (n, C, 1, j + 1)
                    for layer, v_feat, (_, ch) in zip(self.layers, v_rows, biases, strict=True):
                        hs = layer.horizontal(hs, v_feat[..., : j + 1], ch)
                    logits = self.head_logits(hs)[:, :, :, 0, j]  # (n, L, C)
                    cdf = logits.float().softmax(dim=1).cumsum(dim=1)  # (n, L, C)
                    level = (cdf < u[:, None, :, i, j]).sum(dim=1)  # (n, C)
                    idx[:, :, i, j] = level.clamp_max(self.cfg.levels - 1)
            return signed_to_uint8(self.dequantize(idx))
