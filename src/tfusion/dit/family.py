"""The DiT row of the family table: what each verb does with a class-conditional image run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfusion.dit.config import DiTRunConfig
from tfusion.errors import TfusionError
from tfusion.families import EvaluateRequest, Family, SampleRequest


def _train(cfg: DiTRunConfig, run: Path, resume: bool) -> Any:
    from tfusion.dit.train import train_dit

    return train_dit(cfg, run, resume=resume)


def _load(run: str | Path, ema: bool = True, device: str | None = None) -> Any:
    from tfusion.dit.sample import DiTRun

    return DiTRun.load(run, ema=ema, device=device)


def _sample(run: Path, req: SampleRequest) -> str:
    from tfusion.data.images import check_image_path, write_images
    from tfusion.diffusion.guidance import class_balanced_labels
    from tfusion.dit.sample import DiTRun

    FAMILY.refuse(req)
    if req.out is None:
        raise TfusionError("--out is required: a .png grid or an .npz of images and labels")
    target = check_image_path(req.out)
    loaded = DiTRun.load(run, ema=not req.raw_weights, device=req.device)
    if loaded.text != (req.prompt is not None):
        raise TfusionError(
            "this run is conditioned on captions: pass --prompt TEXT (and --n)"
            if loaded.text
            else "this run is class-conditional: pass --labels, not --prompt"
        )
    conditions: list[str] | np.ndarray
    if req.prompt is not None:
        n = 16 if req.n is None else req.n
        conditions, labels = [req.prompt] * n, np.zeros(n, dtype=np.int64)
    elif req.labels:
        try:
            labels = np.array([int(v) for v in req.labels.split(",")], dtype=np.int64)
        except ValueError:
            raise TfusionError(
                f"--labels must be integers like 0,3,3, got {req.labels!r}"
            ) from None
        if req.n is not None and len(labels) == 1:  # one label for all, as the time series
            labels = np.repeat(labels, req.n)
        elif req.n is not None and len(labels) != req.n:
            raise TfusionError(f"got {len(labels)} labels for --n {req.n}; give 1 or {req.n}")
        conditions = labels
    else:
        labels = class_balanced_labels(1000 if req.n is None else req.n, len(loaded.classes))
        conditions = labels
    x = loaded.generate(
        conditions,
        req.guidance,
        req.sampler,
        req.steps,
        req.seed,
        req.eta,
        bf16=req.bf16,
        progress=True,
        spacing=req.spacing,
    )
    write_images(x, labels, target)
    if req.prompt is not None:
        return (
            f"wrote {len(x)} images of {req.prompt!r}, shape {x.shape[1:]} (C, H, W), to {target}"
        )
    return f"wrote {len(x)} images of shape {x.shape[1:]} (C, H, W) to {target}"


def _evaluate(run: Path, req: EvaluateRequest) -> str:
    from tfusion.dit.evaluate import evaluate_dit, evaluate_dit_text
    from tfusion.dit.train import saved_dit_config

    out = Path(req.out) if req.out else run / "evaluation"
    if saved_dit_config(run).model.condition == "text":
        r = evaluate_dit_text(
            run,
            out,
            n=100 if req.n is None else req.n,
            sampler=req.sampler,
            steps=req.steps,
            seed=req.seed,
            device=req.device,
        )
        lines = [
            f"guidance {row['guidance']:g}: adherence {row['all']:.3f} (colour "
            f"{row['colour']:.3f}, shape {row['shape']:.3f}, position {row['position']:.3f})"
            for row in r["prompt_adherence"]
        ]
        return "\n".join([*lines, f"report: {out / 'report.md'}"])
    r = evaluate_dit(
        run, out, n=req.n, sampler=req.sampler, steps=req.steps, seed=req.seed, device=req.device
    )
    lines = [
        f"guidance {row['guidance']:g}: FID {row['fid']:.3f}, "
        f"class accuracy {row['class_accuracy']:.3f}"
        for row in r["by_guidance"]
    ]
    return "\n".join([*lines, f"report: {out / 'report.md'}"])


def _demo(out: str | Path | None, steps: int | None, preset: str | None) -> Path:
    from tfusion.dit.demo import run_dit_demo

    return run_dit_demo(out or FAMILY.demo_out, steps=steps, preset=preset)


def _describe(run: Path) -> list[str]:
    from tfusion.dit.train import dit_shape, saved_dit_config
    from tfusion.runs import read_data_state

    cfg = saved_dit_config(run)
    state = read_data_state(run)
    classes = state.get("classes", [])
    size = int(state.get("model_size", state.get("image_size", 0)))
    channels = int(state.get("model_channels", state.get("channels", 0)))
    steps = int(state.get("time_embedding_steps", 1000))
    shape = dit_shape(cfg.model, size, channels, len(classes), num_timesteps=steps)
    m = cfg.model
    cond = f"{len(classes)} classes"
    if m.condition == "text" and m.text_encoder != "train":
        cond = f"captions (frozen CLIP text model: {m.text_encoder})"
    elif m.condition == "text":
        cond = f"captions (text encoder {m.text_depth} x {m.text_width}, trained with the DiT"
        cond += ", cross-attention)" if m.cross_attention else ")"
    s = cfg.sample
    return [
        f"model: preset {cfg.model.preset} (depth {shape.depth}, width {shape.width}, "
        f"heads {shape.heads}, patch {shape.patch}); latent: {cfg.model.latent}",
        f"data: {cfg.data.source}, {state.get('image_size')} x {state.get('image_size')} x "
        f"{state.get('channels')}, {cond}, {state.get('train_images')} images",
        f"diffusion: {cfg.diffusion.schedule} schedule, T = {cfg.diffusion.steps}, "
        f"predicts {cfg.diffusion.prediction}",
        f"sampler defaults: {s.sampler}, {s.steps} steps, {s.spacing} spacing, eta {s.eta}, "
        f"guidance {s.guidance:g}",
    ]


def _presets() -> list[str]:
    import torch

    from tfusion.dit.model import DIT_PRESETS, DiT, DiTShape, count_parameters

    lines = ["DiT presets (parameters at 32 x 32 x 4, 28 x 28 for patch 7; 1000 classes):"]
    for name, p in DIT_PRESETS.items():
        size = 32 if 32 % p["patch"] == 0 else 28
        with torch.device("meta"):
            n = count_parameters(DiT(DiTShape.preset(name, image_size=size, learn_sigma=True)))
        shape = (
            f"depth {p['depth']:>2} width {p['width']:>4} heads {p['heads']:>2} patch {p['patch']}"
        )
        lines.append(f"  {name:<11} {shape}  {n / 1e6:7.1f} M")
    lines.append("image data: digits, mnist, a folder of class sub-folders, an .npz")
    return lines


FAMILY = Family(
    name="dit",
    title="DiT: class-conditional images, patches as tokens, adaLN-Zero (Peebles & Xie 2023)",
    unit="images",
    config=DiTRunConfig,
    train=_train,
    load=_load,
    sample=_sample,
    evaluate=_evaluate,
    demo=_demo,
    describe=_describe,
    presets=_presets,
    sample_options=frozenset(
        {
            "n",
            "sampler",
            "steps",
            "eta",
            "spacing",
            "guidance",
            "raw_weights",
            "bf16",
            "labels",
            "prompt",
        }
    ),
    demo_out="demo_dit_report",
)
