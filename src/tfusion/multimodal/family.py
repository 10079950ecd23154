"""The multimodal row of the family table: draw from a prompt, caption an image, write a story.

`tfusion sample RUN` takes one of
- `--prompt TEXT --out x.png` (or .npz): `--n` images drawn for the prompt, with guidance;
- `--caption image.png`: the model's caption of an image (printed; `--out` .txt also writes it);
- `--prompt TEXT --out story.md`: interleaved decoding from the prompt: text, an image wherever
  the model emits BOI (saved beside the story as story-1.png, ...), then text again;
  `--out story.txt` continues the text alone.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tfusion.errors import ConfigError, DataError, TfusionError
from tfusion.families import EvaluateRequest, Family, SampleRequest
from tfusion.io import atomic_path, atomic_write_text, check_out_path
from tfusion.multimodal.config import MultimodalRunConfig

TEXT_KEYS = (
    "sampler",
    "steps",
    "guidance",
    "eta",
    "max_tokens",
    "temperature",
    "top_k",
    "top_p",
)
IMAGE_OUT = (".png", ".npz")
TEXT_OUT = (".md", ".txt")
# what each kind of call reads: images take the diffusion options, text the token-sampling ones
_DRAW = ("n", "sampler", "steps", "eta", "guidance")
_WRITE = ("max_tokens", "temperature", "top_k", "top_p")


def _refuse_unused(req: SampleRequest, target: Path | None) -> None:
    """One line for options this call would ignore: a caption draws no image (no diffusion
    options), an image prompt writes no text (no token options), a .txt continuation draws no
    image, and a story draws its images one at a time (no --n)."""
    if req.caption is not None:
        unused, why = _DRAW, "--caption reads the image as given and draws none"
    elif target is not None and target.suffix.lower() in IMAGE_OUT:
        unused, why = _WRITE, f"a {target.suffix} --out draws images and writes no text"
    elif target is not None and target.suffix.lower() == ".txt":
        unused, why = _DRAW, "a .txt --out continues the text and draws no image (.md draws)"
    else:
        unused, why = ("n",), "a .md story draws each image it opens, one at a time"
    given = [k for k in unused if getattr(req, k) is not None]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(
            f"{why}: {flags} would be ignored; drop {'it' if len(given) == 1 else 'them'}"
        )


def _train(cfg: MultimodalRunConfig, run: Path, resume: bool) -> Any:
    from tfusion.multimodal.train import train_multimodal

    return train_multimodal(cfg, run, resume=resume)


def _load(run: str | Path, ema: bool = True, device: str | None = None) -> Any:
    from tfusion.multimodal.decode import load_multimodal

    return load_multimodal(run, ema=ema, device=device)


def read_image(path: str | Path, channels: int, size: int) -> np.ndarray:
    """An image file as (1, C, size, size) in [-1, 1], resized and converted to `channels`."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"image {p} not found; check the path")
    try:
        with Image.open(p) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            im = im.resize((size, size), Image.Resampling.BICUBIC)
            x = np.asarray(im, dtype=np.float32)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{p} is not a readable image ({type(e).__name__})") from None
    x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)  # (C, H, W)
    return (x / 127.5 - 1.0)[None]


def _check_out(req: SampleRequest) -> Path | None:
    if req.out is None:
        return None
    return check_out_path(req.out, TEXT_OUT if req.caption else IMAGE_OUT + TEXT_OUT)


def _sample(run: Path, req: SampleRequest) -> str:
    from tfusion.data.images import write_images
    from tfusion.diffusion import SampleSettings
    from tfusion.multimodal.decode import load_multimodal
    from tfusion.multimodal.train import saved_multimodal_config
    from tfusion.runs import read_data_state

    FAMILY.refuse(req)
    if (req.prompt is None) == (req.caption is None):
        raise ConfigError("give --prompt TEXT (to draw or to continue) or --caption IMAGE, one")
    target = _check_out(req)
    if req.prompt is not None and target is None:
        raise ConfigError("--prompt needs --out: .png/.npz (images), .md (story) or .txt (text)")
    _refuse_unused(req, target)
    # the run's defaults with this call's choices, checked like a config section (--top-p 2 fails
    # here, before the model loads)
    asked = {k: getattr(req, k) for k in TEXT_KEYS if getattr(req, k) is not None}
    saved = saved_multimodal_config(run).sample
    cfg = replace(saved, **asked)
    gen = load_multimodal(run, ema=not req.raw_weights, device=req.device)
    text = {k: getattr(cfg, k) for k in ("max_tokens", "temperature", "top_k", "top_p")}
    # the core's rule for "no --steps" (ddpm in place of the run's few-step sampler: all T)
    settings = SampleSettings.from_section(saved).override(
        sampler=req.sampler, steps=req.steps, eta=req.eta
    )
    sampler, steps, guidance = cfg.sampler, settings.num_steps(gen.schedule), cfg.guidance
    if req.caption is not None:
        state = read_data_state(run)
        image = read_image(req.caption, int(state["image_channels"]), int(state["image_size"]))
        caption = gen.caption(image, seed=req.seed, **text)[0]
        if target is not None:
            atomic_write_text(target, caption + "\n")
        return caption
    assert target is not None and req.prompt is not None
    if target.suffix.lower() in IMAGE_OUT:
        n = 1 if req.n is None else req.n
        if n < 1:
            raise ConfigError(f"--n must be at least 1, got {n}")
        images = gen.text_to_image(
            [req.prompt] * n, guidance, sampler, steps, req.seed, eta=cfg.eta
        )
        write_images(images, np.zeros(n, dtype=np.int64), target)
        return f"drew {n} image(s) for {req.prompt!r} (guidance {guidance:g}); wrote {target}"
    story = target.suffix.lower() == ".md"
    segments = gen.generate(
        req.prompt,
        guidance=guidance,
        sampler=sampler,
        steps=steps,
        seed=req.seed,
        max_images=4 if story else 0,
        eta=cfg.eta,
        **text,
    )
    return _write_story(target, req.prompt, segments, story)


def _write_story(target: Path, prompt: str, segments: list, story: bool) -> str:
    """The prompt and its continuation: Markdown with the images beside it, or plain text."""
    from PIL import Image

    from tfusion.data.images import to_uint8

    parts, images = [prompt], 0
    for seg in segments:
        if isinstance(seg, str):
            parts.append(seg)
            continue
        images += 1
        name = f"{target.stem}-{images}.png"
        pixels = to_uint8(seg[None])[0]
        pixels = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
        with atomic_path(target.parent / name) as tmp:
            Image.fromarray(pixels).save(tmp, format="PNG")
        parts.append(f"\n\n![image {images}]({name})\n\n")
    atomic_write_text(target, "".join(parts) + "\n")
    what = f"{images} image(s) and " if story else ""
    return (
        f"wrote {what}{sum(len(s) for s in segments if isinstance(s, str))} characters to {target}"
    )


def _evaluate(run: Path, req: EvaluateRequest) -> str:
    from tfusion.multimodal.evaluate import evaluate_multimodal

    out = Path(req.out) if req.out else run / "evaluation"
    r = evaluate_multimodal(
        run,
        out,
        n=min(req.n, 200),
        sampler=req.sampler,
        steps=req.steps,
        seed=req.seed,
        device=req.device,
    )
    lines = [
        f"guidance {row['guidance']:g}: prompt adherence {row['all']:.2f}"
        for row in r["prompt_adherence"]
    ]
    lines.append(
        f"captioning (all three right) {r['captioning']['all']:.2f}; report: {out / 'report.md'}"
    )
    return "\n".join(lines)


def _demo(out: str | Path | None, steps: int | None, preset: str | None) -> Path:
    from tfusion.multimodal.demo import run_multimodal_demo

    if preset is not None:
        raise TfusionError("the multimodal demo has no presets; drop --preset")
    return run_multimodal_demo(out or FAMILY.demo_out, steps=steps)


def _describe(run: Path) -> list[str]:
    from tfusion.multimodal.train import saved_multimodal_config
    from tfusion.runs import read_data_state

    cfg = saved_multimodal_config(run)
    state = read_data_state(run)
    m, s = cfg.model, cfg.sample
    return [
        f"model: {m.depth} x {m.width} Llama blocks, {m.heads} heads, patch {m.patch}, "
        f"{m.encoder} patch encoder, lambda {m.diffusion_weight:g}; latent: {m.latent}",
        f"data: {cfg.data.source}, {state.get('train_pairs')} captioned images of "
        f"{state.get('image_size')} x {state.get('image_size')} x {state.get('image_channels')}",
        f"diffusion: {cfg.diffusion.schedule} schedule, T = {cfg.diffusion.steps}, "
        f"predicts {cfg.diffusion.prediction}",
        f"sampler defaults: {s.sampler}, {s.steps} steps, guidance {s.guidance:g}; text: "
        f"temperature {s.temperature:g}, top-k {s.top_k}, top-p {s.top_p}, "
        f"{s.max_tokens} tokens",
    ]


def _presets() -> list[str]:
    return [
        "multimodal: one Llama-style transformer (RMSNorm, SwiGLU, RoPE); size set by model.width,"
        " model.depth, model.heads, model.patch; data: shapes, mnist, a captioned image folder",
    ]


FAMILY = Family(
    name="multimodal",
    title="Transfusion: text and images from one transformer (Zhou et al. 2024)",
    unit="sequences",
    config=MultimodalRunConfig,
    train=_train,
    load=_load,
    sample=_sample,
    evaluate=_evaluate,
    demo=_demo,
    describe=_describe,
    presets=_presets,
    sample_options=frozenset(
        {"n", "sampler", "steps", "eta", "guidance", "raw_weights", "prompt", "caption"}
        | {"max_tokens", "temperature", "top_k", "top_p"}
    ),
    demo_out="demo_multimodal_report",
)
