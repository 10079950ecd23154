"""The configuration of a Transfusion run (`family: multimodal`)."""

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
from tfusion.multimodal.sampling import check_sampling as check_text_sampling

SOURCES = ("shapes", "mnist")  # the built-in captioned sets (else: a folder)
ENCODERS = ("linear", "unet")  # image patches in: a linear map | U-Net down/up blocks


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
    # image -> caption sequences: the image's diffusion time at most this share of the schedule
    # (the Transfusion paper's captioning recipe: 0.5, so captions read mostly-clean images)
    caption_max_t: float = 1.0
    # share of sequences whose image is fed clean (t = 0, no diffusion loss): what decoding
    # feeds back after drawing an image and what captioning reads
    clean_images: float = 0.0
    text: str | None = None  # a plain-text file (UTF-8): text-only sequences mixed in
    text_ratio: float = 0.0  # share of sequences that are text-only (needs data.text)
    text_bytes: int = 128  # bytes per text-only sequence (a window of the file)

    def __post_init__(self) -> None:
        check_name_or_path(
            "data.source", self.source, SOURCES, "a folder of images with a captions file"
        )
        check_at_least("data.size", self.size, 1)
        if self.source == "shapes":
            check(16 <= self.size <= 32, f"data.size must be 16 to 32 for shapes, got {self.size}")
        check_at_least("data.samples", self.samples, 1)
        check_share("data.test_fraction", self.test_fraction, closed=False)
        check_at_least("data.seed", self.seed, 0)
        check_share("data.caption_dropout", self.caption_dropout)
        check_share("data.image_first", self.image_first)
        check(
            0 < self.caption_max_t <= 1,
            f"data.caption_max_t must be in (0, 1], got {self.caption_max_t}",
        )
        check_share("data.clean_images", self.clean_images)
        check_share("data.text_ratio", self.text_ratio)
        check_at_least("data.text_bytes", self.text_bytes, 8)
        check(
            self.text_ratio == 0 or self.text is not None,
            "data.text_ratio > 0 needs data.text=FILE (plain UTF-8 text)",
        )


@dataclass(frozen=True)
class MultimodalModelConfig:
    """One Llama-style transformer over text tokens and image patches."""

    width: int = 256
    depth: int = 4
    heads: int = 4
    hidden: int | None = None  # SwiGLU width; None: 8/3 x width rounded to a multiple of 8
    patch: int = 4
    encoder: str = "linear"  # linear (patch map + time embedding) | unet (U-Net down/up blocks)
    # text tokens: UTF-8 bytes, or byte-level BPE learned from the training captions (and
    # data.text) up to `vocab` ids, saved with the run (the paper uses Llama's BPE)
    tokenizer: str = "bytes"  # bytes | bpe
    vocab: int = 1024  # bpe: the most ids (256 bytes + 5 special + merges)
    diffusion_weight: float = 5.0  # lambda: total loss = LM + lambda x diffusion
    # ablations of seed 002: causal attention inside images (the paper: it hurts text-to-image)
    image_attention: str = "bidirectional"  # bidirectional | causal
    # the time embedding: added to the linear patch map's output (after) or to each patch
    # vector before the map (before, the paper's wording)
    time_embedding: str = "after"  # after | before
    # where a patch sits in its image: RoPE's 1-D raster offsets only (the paper's layout), or
    # also a fixed 2-D sin-cos table added to each patch embedding (as DiT does)
    patch_positions: str = "rope"  # rope | sincos
    latent: str = "none"  # none (pixels) | train (a small autoencoder trained first) | a folder
    latent_channels: int = 4  # latent: train
    latent_factor: int = 2  # latent: train; spatial downsampling 2 or 4
    latent_steps: int = 1500  # latent: train; autoencoder training steps

    def __post_init__(self) -> None:
        for key in ("width", "depth", "heads", "patch"):
            check_at_least(f"model.{key}", getattr(self, key), 1)
        check_at_least("model.hidden", self.hidden, 1, optional=True)
        check(
            self.width % self.heads == 0 and (self.width // self.heads) % 2 == 0,
            f"model.width {self.width} must split into {self.heads} heads of even width",
        )
        check_choice("model.encoder", self.encoder, ENCODERS)
        check_choice("model.tokenizer", self.tokenizer, ("bytes", "bpe"))
        check_at_least("model.vocab", self.vocab, 262)
        check_choice("model.image_attention", self.image_attention, ("bidirectional", "causal"))
        check_choice("model.time_embedding", self.time_embedding, ("after", "before"))
        check_choice("model.patch_positions", self.patch_positions, ("rope", "sincos"))
        for key, plain in (("time_embedding", "after"), ("patch_positions", "rope")):
            check(
                self.encoder == "linear" or getattr(self, key) == plain,
                f"model.{key}={getattr(self, key)} applies to the linear patch map only; the "
                f"U-Net (model.encoder=unet) embeds time and place itself: leave model.{key} out",
            )
        check(
            self.patch_positions != "sincos" or self.width % 4 == 0,
            f"model.patch_positions=sincos needs model.width divisible by 4, got {self.width}",
        )
        check_at_least("model.diffusion_weight", self.diffusion_weight, 0)
        check_latent(self)


@dataclass(frozen=True)
class MultimodalSampleConfig:
    """Default sampling settings of a Transfusion run: images (diffusion) and text (tokens)."""

    # DPM-Solver++ 25 with eta 1 (the SDE): measured best on shapes (benchmarks/shapes_samplers.py,
    # single shapes 0.76-0.79 against 0.68-0.72 for DDPM 250 and 0.61-0.63 for every ODE) and 10x
    # fewer model calls; sample.sampler=ddpm sample.steps=250 is the paper's ancestral sampler
    sampler: str = "dpm++"
    steps: int = 25  # trained on T = 1000
    guidance: float = 3.0  # adherence peaked at 1.5-3 on every shapes model, fell at 5
    eta: float = 1.0  # image sampler noise (ddim / dpm++): 0 = the ODE, 1 = the SDE
    temperature: float = 0.0  # 0: greedy text
    top_k: int | None = None
    top_p: float | None = None
    max_tokens: int = 64

    def __post_init__(self) -> None:
        check_sampling(self)
        check_text_sampling(self.temperature, self.top_k, self.top_p, "sample.")
        check_at_least("sample.max_tokens", self.max_tokens, 1)


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

    def __post_init__(self) -> None:
        # the diffusion term is the squared error of each image's patches (seed 001, eq. 5)
        check(
            self.diffusion.loss == "mse" and self.diffusion.fourier_weight == 0,
            "the multimodal diffusion loss is the squared error: diffusion.loss=l1 and "
            "diffusion.fourier_weight belong to the other families; leave them out",
        )
