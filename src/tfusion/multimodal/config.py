"""The configuration of a Transfusion run (`family: multimodal`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfusion.config import DiffusionConfig, TrainConfig, check, check_sampling


@dataclass(frozen=True)
class MultimodalDataConfig:
    """Captioned images for Transfusion: the generated `shapes` set or captioned `mnist`."""

    source: str = "shapes"  # shapes | mnist | a folder of images + captions.txt/metadata.csv
    size: int = 16  # image side: shapes 16-32, a folder is resized to it (mnist: 28 or 32)
    samples: int = 20000  # shapes: images to generate
    test_fraction: float = 0.1
    seed: int = 0
    caption_dropout: float = 0.1  # text->image sequences whose caption is dropped (for CFG)
    image_first: float = 0.5  # share of sequences laid out image -> caption (captioning)


@dataclass(frozen=True)
class MultimodalModelConfig:
    """One Llama-style transformer over text tokens and image patches."""

    width: int = 256
    depth: int = 4
    heads: int = 4
    hidden: int | None = None  # SwiGLU width; None: 8/3 x width rounded to a multiple of 8
    patch: int = 4
    encoder: str = "linear"  # linear (patch map + time embedding) | unet (U-Net down/up blocks)
    diffusion_weight: float = 5.0  # lambda: total loss = LM + lambda x diffusion
    latent: str = "none"  # none (pixels) | train (a small autoencoder trained first) | a folder
    latent_channels: int = 4  # latent: train
    latent_factor: int = 2  # latent: train; spatial downsampling 2 or 4
    latent_steps: int = 1500  # latent: train; autoencoder training steps


@dataclass(frozen=True)
class MultimodalSampleConfig:
    sampler: str = "ddpm"
    steps: int = 250  # trained on T = 1000
    guidance: float = 5.0
    temperature: float = 0.0  # 0: greedy text
    top_k: int | None = None
    top_p: float | None = None
    max_tokens: int = 64

    def __post_init__(self) -> None:
        check_sampling("sample", self.sampler, self.steps, 1, None)
        check(self.guidance >= 0, f"sample.guidance must be 0 or more, got {self.guidance}")


@dataclass(frozen=True)
class MultimodalRunConfig:
    """A Transfusion run; `family: multimodal` in YAML picks it. Optimiser defaults are the
    paper's (seed 002): AdamW (0.9, 0.95), lr 3e-4, 4000 warmup steps, cosine to 1.5e-5,
    weight decay 0.1, clip 1.0."""

    family: str = "multimodal"
    data: MultimodalDataConfig = field(default_factory=MultimodalDataConfig)
    model: MultimodalModelConfig = field(default_factory=MultimodalModelConfig)
    diffusion: DiffusionConfig = field(
        default_factory=lambda: DiffusionConfig(schedule="cosine", prediction="eps")
    )
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=250000,
            batch_size=64,
            lr=3e-4,
            warmup=4000,
            min_lr_ratio=0.05,
            weight_decay=0.1,
            betas=(0.9, 0.95),
            grad_clip=1.0,
            ema_decay=0.999,
        )
    )
    sample: MultimodalSampleConfig = field(default_factory=MultimodalSampleConfig)
