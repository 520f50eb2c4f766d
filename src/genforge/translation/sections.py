"""The translation's params sections: its two domains, the CycleGAN, its gate (`translation:`).

A leaf module (pydantic and genforge.sections only), so config.py can build `Params`
from them without importing the data layer or torch, which import config.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from genforge.sections import Fraction, NonNegInt, PosFloat, PosInt, Section


class DomainsConfig(Section):
    """Where the two domains come from and the shape they are brought to."""

    source: Literal["digits-typeset", "folder"] = "digits-typeset"
    path: str | None = None  # folder: the directory holding trainA/ trainB/ testA/ testB/
    image_size: Annotated[int, Field(ge=4, le=256)] | None = 16  # null: keep (folder only)
    channels: Literal[1, 3] = 1
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2  # digits-typeset only
    seed: NonNegInt = 0
    typeset_per_class: PosInt = 180  # about as many as the handwritten digits (1,797)
    typeset_height: Annotated[float, Field(gt=0.2, le=1.0)] = 0.75  # glyph height / side
    # render the typeset digits at this side, then resize to image_size as the 8 px
    # handwritten digits are (null: render at image_size)
    typeset_render_size: Annotated[int, Field(ge=8, le=256)] | None = None
    typeset_max_rotation: Annotated[float, Field(ge=0, le=45)] = 12.0
    typeset_size_jitter: Annotated[float, Field(ge=0, le=0.2)] = 0.1
    typeset_shift_jitter: Fraction = 0.06

    @model_validator(mode="after")
    def _path_matches_source(self) -> DomainsConfig:
        if self.source == "folder" and not self.path:
            raise ValueError("translation.data.path is required when source is 'folder'")
        if self.source != "folder" and self.path:
            raise ValueError(f"translation.data.path must be empty when source is {self.source!r}")
        if self.source != "folder" and self.image_size is None:
            raise ValueError("translation.data.image_size null is for source 'folder' only")
        return self


class CycleGanConfig(Section):
    """The `cyclegan` params section. Defaults: the paper's optimiser and loss weights
    (sec. 4, eq. 3) with nets sized for 16 px and a step count that fits ~7 CPU minutes."""

    steps: PosInt = 3000
    batch_size: PosInt = 16  # the paper uses 1 at 256 px; instance norm makes it per image
    lr: PosFloat = 2e-4
    beta1: Fraction = 0.5
    beta2: Fraction = 0.999
    base_channels: PosInt = 32  # generator width (the paper's k = 64 at 256 px)
    res_blocks: PosInt = 3  # the paper's 6 (128 px) / 9 (256 px)
    g_down: NonNegInt | None = None  # G's stride-2 convolutions; None: 16 px 1, 32+ px 2
    g_skip: bool = False  # G(x) = tanh(atanh(0.99 x) + net(x)), starting at the identity
    d_channels: PosInt = 32  # discriminator width (the paper's 64)
    d_strided: NonNegInt | None = None  # D's stride-2 layers; None: 8 px 1, 16 px 2, 32+ px 3
    # class-conditional discriminators (cyclegan.CycleGan's d_classes): None = on when both
    # domains are labelled with the same classes; true demands labels; false = the paper's
    conditional_d: bool | None = None
    lambda_cycle: Annotated[float, Field(ge=0)] = 10.0
    lambda_identity: Annotated[float, Field(ge=0)] = 0.5  # x lambda_cycle (sec. 5.2)
    # semantic consistency (CyCADA eq. 4; cyclegan.Semantic), labelled domains only: 0 = off
    lambda_semantic: Annotated[float, Field(ge=0)] = 0.0
    semantic_steps: PosInt = 600  # training steps of each domain's frozen classifier
    pool_size: NonNegInt = 50  # the replay buffer per discriminator (sec. 4)
    grad_clip: Annotated[float, Field(ge=0)] = 0.0  # the paper clips nothing
    seed: NonNegInt = 0
    threads: PosInt = 1
    log_every: PosInt = 10


class TranslationGateConfig(Section):
    """The translation model's own bars, both directions (a2b and b2a) must clear each."""

    fid_vs_identity_max: PosFloat | None = 0.5  # translation FID / the untranslated images' FID
    content_min: Fraction | None = 0.9  # share of translations the target classifier gives
    # the source image's class (labelled domains only; skipped when unlabelled)
    cycle_error_max: PosFloat | None = None  # mean |F(G(a)) - a| on [0, 1] pixels; null: off
    min_improvement: Fraction = 0.02  # relative gain in mean FID / identity over the champion
    max_content_drop: Fraction = 0.05  # content preservation may fall at most this below it


class TranslationConfig(Section):
    """Unpaired image-to-image translation (CycleGAN): its data, model, evaluation and gate.

    Its own experiment and registered model: <tracking prefix>-<name>."""

    enabled: bool = True  # false: the `translate` stage writes only why it did nothing
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] = "digits2typeset"
    data: DomainsConfig = DomainsConfig()
    cyclegan: CycleGanConfig = CycleGanConfig()
    grid_columns: Annotated[int, Field(ge=1, le=32)] = 8  # test images per grid row
    gate: TranslationGateConfig = TranslationGateConfig()
