"""The configuration of a DiT run (`family: dit`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfusion.config import (
    DiffusionConfig,
    TrainConfig,
    check,
    check_at_least,
    check_choice,
    check_latent,
    check_name_or_path,
    check_sampling,
    check_share,
)
from tfusion.data.captions import CAPTIONED
from tfusion.data.images import BUILTIN_IMAGES
from tfusion.dit.model import DIT_PRESETS


@dataclass(frozen=True)
class ImageDataConfig:
    """Where the labelled images come from and how they are shaped (see tfusion.data.images)."""

    # class-conditional: digits | mnist | a folder of class sub-folders | an .npz file;
    # text-conditional (model.condition: text): shapes | mnist (captioned "a handwritten
    # seven") | a folder of images with captions.txt / metadata.csv / metadata.jsonl
    source: str = "mnist"
    image_size: int | None = None  # resize to this square size (None: keep the files' size;
    # shapes: 16)
    samples: int = 20000  # shapes: images to generate
    test_fraction: float = 0.1  # held out (stratified) for the evaluation's real images
    seed: int = 0
    flip: bool = False  # random horizontal flips in training, half the images (DiT's training)

    def __post_init__(self) -> None:
        check_name_or_path(
            "data.source",
            self.source,
            (*BUILTIN_IMAGES, *CAPTIONED),
            "a folder of class sub-folders (or of captioned images) or an .npz",
        )
        check_at_least("data.samples", self.samples, 1)
        check_at_least("data.image_size", self.image_size, 1, optional=True)
        check_share("data.test_fraction", self.test_fraction, closed=False)
        check_at_least("data.seed", self.seed, 0)


@dataclass(frozen=True)
class DiTModelConfig:
    """A DiT preset (DiT-S/2 ... DiT-XL/8, or CPU-sized: DiT-XS/7, DiT-T/2, DiT-T/4, DiT-Mini/2)."""

    preset: str = "DiT-XS/7"
    depth: int | None = None  # overrides of the preset
    width: int | None = None
    heads: int | None = None
    patch: int | None = None
    # 2x output channels: a learned variance (Improved DDPM), as the released models have it;
    # trained with the hybrid loss (below), used by the ddpm sampler (ddim / dpm++ ignore it)
    learn_sigma: bool = False
    # weight of the variational bound term when learn_sigma (bits per dimension; DiT: 1 at
    # T = 1000); 0 trains the mean half alone
    vlb_weight: float = 1.0
    class_dropout: float = 0.1  # labels (captions) replaced by the null one in training (guidance)
    # class: one label per image (a label table) | text: captions through a text encoder
    # trained with the DiT (byte tokens, `text_depth` Llama blocks of `text_width`, mean-pooled
    # into the adaLN condition; a dropped caption is a learned null vector)
    condition: str = "class"
    text_width: int = 128
    text_depth: int = 2
    text_heads: int = 4
    max_caption: int = 64  # condition text: bytes per caption
    # condition text: train (the encoder above, trained with the DiT) | a folder holding a CLIP
    # text model and tokenizer saved with transformers' save_pretrained (frozen; its pooled
    # embedding of each caption is computed once and mapped into the adaLN condition)
    text_encoder: str = "train"
    # condition text, trained encoder: each block also cross-attends to the caption's tokens
    cross_attention: bool = False
    latent: str = "none"  # none (pixels) | train (an autoencoder trained first) | a folder
    # holding a diffusers AutoencoderKL (save_pretrained), e.g. the Stable Diffusion VAE
    latent_channels: int = 4  # latent: train
    latent_factor: int = 2  # latent: train; spatial downsampling 2 or 4
    latent_steps: int = 1500  # latent: train; autoencoder training steps

    def __post_init__(self) -> None:
        check_choice("model.preset", self.preset, DIT_PRESETS)
        for key in ("depth", "width", "heads", "patch"):
            check_at_least(f"model.{key}", getattr(self, key), 1, optional=True)
        check_share("model.class_dropout", self.class_dropout, closed=False)
        check(self.vlb_weight >= 0, f"model.vlb_weight must be 0 or more, got {self.vlb_weight}")
        check_choice("model.condition", self.condition, ("class", "text"))
        check(
            not self.cross_attention or (self.condition == "text" and self.text_encoder == "train"),
            "model.cross_attention reads the trained text encoder's tokens: it needs "
            "model.condition=text and model.text_encoder=train",
        )
        check(
            self.text_encoder == "train" or self.condition == "text",
            "model.text_encoder is for model.condition=text; set the condition or leave it out",
        )
        for key in ("text_width", "text_depth", "text_heads", "max_caption"):
            check_at_least(f"model.{key}", getattr(self, key), 1)
        check(
            self.text_width % self.text_heads == 0
            and (self.text_width // self.text_heads) % 2 == 0,
            f"model.text_width {self.text_width} must split into {self.text_heads} heads of even "
            "width",
        )
        base = DIT_PRESETS[self.preset]
        width = base["width"] if self.width is None else self.width
        heads = base["heads"] if self.heads is None else self.heads
        check(
            width % heads == 0 and width % 4 == 0,
            f"model.width {width} must be divisible by model.heads {heads} and by 4",
        )
        check_latent(self)


@dataclass(frozen=True)
class ImageSampleConfig:
    """Default sampling settings of a DiT run."""

    sampler: str = "dpm++"  # ddpm | ddim | dpm++
    steps: int = 20
    eta: float = 0.0
    clip: float | None = 1.0
    batch_size: int = 100
    guidance: float = 1.5  # classifier-free guidance scale (1 = the conditional model alone)
    spacing: str = "uniform"  # step grid: uniform | quadratic | logsnr | karras

    def __post_init__(self) -> None:
        check_sampling(self)


@dataclass(frozen=True)
class DiTRunConfig:
    """Everything a DiT run needs; `family: dit` in YAML picks it."""

    family: str = "dit"
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: DiTModelConfig = field(default_factory=DiTModelConfig)
    diffusion: DiffusionConfig = field(
        default_factory=lambda: DiffusionConfig(schedule="linear", prediction="eps")
    )
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=5000, lr=1e-4, warmup=0, min_lr_ratio=1.0, ema_decay=0.9999
        )
    )
    sample: ImageSampleConfig = field(default_factory=ImageSampleConfig)

    def __post_init__(self) -> None:
        # Diffusion-TS's term transforms the sequence axis; on (B, C, H, W) that is the channels
        check(
            self.diffusion.fourier_weight == 0,
            "diffusion.fourier_weight is a time-series loss term (an FFT along time); on images "
            "it transforms the colour channels: leave it out",
        )
        # captions name sides ("on the left"): a mirrored image contradicts its caption
        check(
            not (self.data.flip and self.model.condition == "text"),
            "data.flip mirrors images left-right, which makes captions that name a side wrong; "
            "flip class-labelled images only (model.condition=class)",
        )
