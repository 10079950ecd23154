"""Train a Transfusion model on captioned images: data -> run folder (`family: multimodal`).

Each training sequence is one (caption, image) pair, laid out text -> image (BOS caption BOI
patches EOI EOS) or, with probability `data.image_first`, image -> text (BOS BOI patches EOI
caption EOS), so one model learns both to draw and to caption. In text -> image sequences the
caption is dropped with probability `data.caption_dropout` (BOS BOI patches EOI EOS), which
trains the unconditional model classifier-free guidance needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from tfusion import __version__, runs
from tfusion.config import dump_yaml
from tfusion.data.captions import load_captioned
from tfusion.diffusion import Schedule
from tfusion.errors import ConfigError
from tfusion.io import atomic_write_text
from tfusion.latents import encode_images, latent_coder
from tfusion.multimodal.config import MultimodalRunConfig
from tfusion.multimodal.loss import transfusion_loss
from tfusion.multimodal.model import MultimodalShape, MultimodalTransformer
from tfusion.multimodal.sequences import layout, pack
from tfusion.multimodal.tokenizer import (
    ByteTokenizer,
    learn_tokenizer,
    run_tokenizer,
    save_tokenizer,
    token_window,
)
from tfusion.nn.patchify import patchify
from tfusion.runs import check_run_folder, check_same_sections
from tfusion.training.distributed import World, current_world
from tfusion.training.loop import FitResult, fit
from tfusion.training.plots import plot_loss_curve


@dataclass(frozen=True, eq=False)
class CaptionedImages:
    images: np.ndarray  # (N, C, S, S) in [-1, 1]
    captions: list[str]

    def subset(self, idx: np.ndarray) -> CaptionedImages:
        return CaptionedImages(self.images[idx], [self.captions[i] for i in idx])


def captioned_images(cfg: MultimodalRunConfig) -> tuple[CaptionedImages, CaptionedImages]:
    """The training and held-out pairs of a config (seeded random split)."""
    d = cfg.data
    images, captions = load_captioned(d.source, d.size, d.samples, d.seed)
    if images.shape[2] % cfg.model.patch:
        raise ConfigError(
            f"images of {images.shape[2]} pixels do not split into {cfg.model.patch}-pixel "
            "patches; change data.size or model.patch"
        )
    order = np.random.default_rng(d.seed).permutation(len(images))
    cut = len(images) - round(len(images) * d.test_fraction)
    full = CaptionedImages(images, captions)
    return full.subset(order[:cut]), full.subset(order[cut:])


def text_split(path: str | None, held_out: float = 0.1) -> tuple[bytes, bytes]:
    """A plain-text file's UTF-8 bytes, cut into training text and the last `held_out` share
    (at a line break where there is one), on which evaluation reports perplexity."""
    if path is None:
        return b"", b""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"data.text {path} not found; pass a plain-text (UTF-8) file")
    raw = p.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"data.text {path} is not UTF-8 text (byte {e.start}); convert it"
        ) from None
    if len(raw) < 64:
        raise ConfigError(f"data.text {path} holds {len(raw)} bytes; give at least 64")
    cut = int(len(raw) * (1 - held_out))
    line = raw.rfind(b"\n", 0, cut)
    cut = line + 1 if line > len(raw) // 2 else cut
    return raw[:cut], raw[cut:]


def model_shape(
    cfg: MultimodalRunConfig, channels: int, size: int, vocab: int | None = None
) -> MultimodalShape:
    """The model of a config for images of `channels` x `size` pixels and a tokenizer of
    `vocab` ids (default: the byte tokenizer's)."""
    m = cfg.model
    hidden = m.hidden or 8 * ((8 * m.width // 3 + 7) // 8)
    if m.width % m.heads or (m.width // m.heads) % 2:
        raise ConfigError(f"model.width {m.width} must split into {m.heads} heads of even width")
    return MultimodalShape(
        vocab=vocab or ByteTokenizer().vocab_size,
        patch_dim=m.patch * m.patch * channels,
        width=m.width,
        depth=m.depth,
        heads=m.heads,
        hidden=hidden,
        encoder=m.encoder,
        channels=channels,
        image_size=size,
        patch=m.patch,
        image_attention=m.image_attention,
        time_embedding=m.time_embedding,
        patch_positions=m.patch_positions,
    )


def train_multimodal(cfg: MultimodalRunConfig, run: str | Path, resume: bool = False) -> FitResult:
    """Train on cfg.data and write the run folder `run` (torchrun: data parallel, see
    `tfusion.training.distributed`; every rank lays out the whole global batch and keeps its
    rows)."""
    run = Path(run)
    world = current_world()
    check_run_folder(run, resume)
    world.barrier()  # every rank has looked at the folder before rank 0 writes into it
    if resume:
        check_same_sections(saved_multimodal_config(run), cfg)
    train, _ = captioned_images(cfg)
    cfg = replace(cfg, train=cfg.train.for_examples(len(train.captions), world.size))  # epochs
    pixels = train.images
    coder = latent_coder(cfg.model, run, pixels, resume, world, cfg.train.seed)
    if coder is not None:  # the model sees latents; images are decoded after sampling
        pixels = encode_images(coder, pixels)
        if pixels.shape[2] % cfg.model.patch:
            raise ConfigError(
                f"latents of {pixels.shape[2]} pixels do not split into {cfg.model.patch}-pixel "
                "patches; change model.patch, model.latent_factor or data.size"
            )
    channels, size = pixels.shape[1], pixels.shape[2]
    d, bs = cfg.data, cfg.train.batch_size * world.size  # the global batch
    text = text_split(d.text)[0] if d.text_ratio > 0 else b""
    plain_text = text.decode("utf-8", errors="ignore")
    if resume:
        tok = run_tokenizer(run, cfg.model.tokenizer)
    else:  # every rank learns the same merges from the same data
        tok = learn_tokenizer(cfg.model.tokenizer, cfg.model.vocab, [*train.captions, plain_text])
    patches = patchify(pixels, cfg.model.patch)  # (N, n, P)
    captions = [tok.encode(c) for c in train.captions]
    text_ids = tok.encode(plain_text) if text else []
    window = token_window(d.text_bytes, len(text_ids), len(text))
    shape = model_shape(cfg, channels, size, tok.vocab_size)
    torch.manual_seed(cfg.train.seed)
    model = MultimodalTransformer(shape)
    schedule = Schedule.create(cfg.diffusion.schedule, cfg.diffusion.steps)
    state = {
        "channels": channels,
        "size": size,
        "patch": cfg.model.patch,
        "vocab": shape.vocab,
        "train_pairs": len(train.captions),
        "image_channels": int(train.images.shape[1]),
        "image_size": int(train.images.shape[2]),
    }
    if not resume and world.is_main:
        atomic_write_text(run / "config.yaml", dump_yaml(cfg))
        atomic_write_text(run / "data_state.json", json.dumps(state, indent=2))
        save_tokenizer(tok, run)

    def loss_fn(m: nn.Module, gen: torch.Generator, world: World) -> Tensor:
        idx = torch.randint(len(captions), (bs,), generator=gen).tolist()
        draws = torch.rand(bs, 2, generator=gen)
        # the recipe options draw only when they are on (so older runs resume the same)
        clean = torch.rand(bs, generator=gen) < d.clean_images if d.clean_images > 0 else None
        plain = None
        if d.text_ratio > 0:
            plain = torch.rand(bs, generator=gen) < d.text_ratio
            starts = torch.randint(max(len(text_ids) - window + 1, 1), (bs,), generator=gen)
        sequences, caps = [], torch.ones(bs, dtype=torch.float64)  # float64: exact caps
        for k, i in enumerate(idx):
            if plain is not None and plain[k]:  # a window of the text file alone
                s = int(starts[k])
                # EOS only where the text ends: a window cut mid-text had taught the model
                # to end its writing after about one window
                sequences.append(
                    layout([text_ids[s : s + window]], tok, s + window >= len(text_ids))
                )
                continue
            if draws[k, 0] < d.image_first:
                segs = [patches[i], captions[i]]
                caps[k] = d.caption_max_t
            elif draws[k, 1] < d.caption_dropout:
                segs = [patches[i]]
            else:
                segs = [captions[i], patches[i]]
            sequences.append(layout(segs, tok))
        batch = pack(sequences, shape.patch_dim, tok.PAD)
        loss, _ = transfusion_loss(
            m,
            batch,
            schedule,
            gen,
            cfg.model.diffusion_weight,
            world,
            cfg.diffusion.prediction,
            bidirectional=cfg.model.image_attention == "bidirectional",
            t_cap=caps if d.caption_max_t < 1 else None,
            clean=clean,
        )
        return loss

    meta = {"family": "multimodal", "tfusion": __version__, **{k: str(v) for k, v in state.items()}}
    result = fit(model, loss_fn, cfg.train, run, meta, resume=resume)
    if world.is_main:
        plot_loss_curve(run / "metrics.jsonl", run / "loss.png")
    return result


def saved_multimodal_config(run: str | Path) -> MultimodalRunConfig:
    """The MultimodalRunConfig a run folder was trained with."""
    return runs.saved_config(run, MultimodalRunConfig, "multimodal")
