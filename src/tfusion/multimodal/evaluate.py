"""Score a Transfusion run on shapes: prompt adherence, captioning, perplexity, FID, examples.

- prompt adherence: images drawn for held-out captions, read back by the deterministic checker
  of `tfusion.data.shapes` (colour, shape, position, all three), per guidance scale;
- captioning: greedy captions of held-out images, exact match and per-attribute agreement (the
  checker applied to the real image with the generated caption);
- perplexity of the held-out captions given their images;
- FID with the features of a CNN trained here on the training images (labels: colour and shape
  of the first item), no downloaded weights.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfusion.config import to_dict
from tfusion.data.images import write_images_grid
from tfusion.data.shapes import (
    check_caption,
    make_shapes,
)
from tfusion.devices import load_device
from tfusion.diffusion import SampleSettings, Schedule
from tfusion.errors import ConfigError
from tfusion.io import atomic_write_text, staged_report
from tfusion.metrics.images import shapes_scorer
from tfusion.multimodal.decode import load_multimodal
from tfusion.multimodal.train import captioned_images, saved_multimodal_config, text_split


@staged_report
def evaluate_multimodal(
    run: str | Path,
    out: str | Path,
    n: int = 100,
    scales: tuple[float, ...] = (1.0, 3.0, 5.0),
    sampler: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    extra: dict[str, Any] | None = None,
    scorer_steps: int = 1500,
    device: str | torch.device | None = None,
    eta: float | None = None,
) -> dict[str, Any]:
    """Score a shapes run (see the module docstring); the model and the FID scorer run on
    `device` (default the CPU)."""
    t0 = time.perf_counter()
    dev = load_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = saved_multimodal_config(run)
    if cfg.data.source != "shapes":
        raise ConfigError(
            f"the multimodal report reads prompts back from pixels and needs data.source=shapes, "
            f"got {cfg.data.source!r}; use load_multimodal(run) in Python for other data"
        )
    gen = load_multimodal(run, device=dev)
    train, test = captioned_images(cfg)
    test = test.subset(np.arange(min(n, len(test.captions))))
    # the core's rule for no step count (ddpm in place of the run's few-step sampler: all T)
    settings = SampleSettings.from_section(cfg.sample).override(sampler=sampler, steps=steps)
    schedule = Schedule.create(cfg.diffusion.schedule, cfg.diffusion.steps)
    sampler, steps = settings.sampler, settings.num_steps(schedule)
    eta = cfg.sample.eta if eta is None else eta

    rows = []
    for scale in scales:
        t1 = time.perf_counter()
        images = gen.text_to_image(test.captions, scale, sampler, steps, seed, eta=eta)
        seconds = time.perf_counter() - t1
        checks = [check_caption(im, c) for im, c in zip(images, test.captions, strict=True)]
        row = {k: float(np.mean([c[k] for c in checks])) for k in ("colour", "shape", "position")}
        row["all"] = float(np.mean([all(c.values()) for c in checks]))
        rows.append({"guidance": scale, **row, "seconds_per_image": seconds / len(images)})
        write_images_grid(images[:16], out / f"text_to_image_guidance_{scale:g}.png", 8)
        if scale == scales[-1]:
            last_images = images
    sc = cfg.sample  # the run's text settings (greedy by default: temperature 0)
    captions = gen.caption(
        test.images,
        max_tokens=sc.max_tokens,
        temperature=sc.temperature,
        top_k=sc.top_k,
        top_p=sc.top_p,
        seed=seed,
    )
    exact = float(np.mean([a == b for a, b in zip(captions, test.captions, strict=True)]))
    attr = [check_caption(im, c) for im, c in zip(test.images, captions, strict=True)]
    captioning = {
        "exact": exact,  # the very words; "above" vs an equivalent "below" counts as wrong
        **{k: float(np.mean([a[k] for a in attr])) for k in ("colour", "shape", "position")},
        "all": float(np.mean([all(a.values()) for a in attr])),  # a true description
    }
    perplexity = gen.caption_perplexity(test.images, test.captions)
    text_perplexity = None
    if cfg.data.text is not None:  # the held-out tail of data.text
        text_perplexity = gen.text_perplexity(text_split(cfg.data.text)[1], cfg.data.text_bytes)

    scorer = shapes_scorer(train.images, test.images, seed, scorer_steps, dev)
    fid = scorer.fid(test.images, last_images)
    floor = scorer.fid(test.images, train.images[: len(test.images)])
    examples = [
        {"prompt": c, "image": f"text_to_image_guidance_{scales[-1]:g}.png"}
        for c in test.captions[:4]
    ] + [{"image_index": i, "caption": captions[i], "truth": test.captions[i]} for i in range(4)]
    write_images_grid(test.images[:8], out / "captioned_images.png", 8)
    report = {
        "run": str(run),
        "config": to_dict(cfg),
        "prompts": len(test.captions),
        "sampler": sampler,
        "sampler_steps": steps,
        "eta": eta,
        "prompt_adherence": rows,
        "captioning": captioning,
        "perplexity": perplexity,
        "text_perplexity": text_perplexity,
        "fid": {
            "samples_at_last_scale": fid,
            "train_vs_held_out": floor,
            "scorer_held_out_accuracy": scorer.test_accuracy,
        },
        "examples": examples,
        "device": str(dev),
        "seconds": time.perf_counter() - t0,
        **(extra or {}),
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=2))
    atomic_write_text(out / "report.md", _markdown(report))
    return report


def _markdown(r: dict[str, Any]) -> str:
    lines = [f"# Transfusion report: {r['run']}", "", str(r.get("title", "")), ""]
    eta = r.get("eta") or 0.0
    noise = "the ODE" if eta == 0 else "the SDE" if eta == 1 else "partly stochastic"
    lines += [
        f"{r['prompts']} held-out prompts and images; images drawn with {r['sampler']} "
        f"({r['sampler_steps']} steps, eta {eta:g}: {noise}).",
        "",
        "| guidance | colour | shape | position | all three | s per image |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["prompt_adherence"]:
        lines.append(
            f"| {row['guidance']:g} | {row['colour']:.2f} | {row['shape']:.2f} | "
            f"{row['position']:.2f} | {row['all']:.2f} | {row['seconds_per_image']:.3f} |"
        )
    c = r["captioning"]
    lines += [
        "",
        f"Captioning (greedy), read back against the image: colour {c['colour']:.2f}, shape "
        f"{c['shape']:.2f}, position {c['position']:.2f}, all three {c['all']:.2f}"
        f" (the very words of the true caption: {c['exact']:.2f}; 'a above b' and the "
        f"equivalent 'b below a' differ). Held-out caption perplexity "
        f"{r['perplexity']:.3f} per byte."
        + (
            f" Held-out perplexity of data.text: {r['text_perplexity']:.3f} per byte."
            if r.get("text_perplexity") is not None
            else ""
        ),
        f"FID (features of a CNN trained on the training images) of the images drawn at the last "
        f"guidance scale vs the held-out images: {r['fid']['samples_at_last_scale']:.3f}; for "
        f"reference, as many real training images vs the held-out ones: "
        f"{r['fid']['train_vs_held_out']:.3f} (the samples follow the held-out captions' "
        f"layouts, random training images do not).",
        "",
        "Prompt -> image (first row of the grid, in order):",
        "",
    ]
    lines += [f"- {e['prompt']}" for e in r["examples"] if "prompt" in e]
    lines += [
        "",
        f"![text to image](text_to_image_guidance_{r['prompt_adherence'][-1]['guidance']:g}.png)",
        "",
    ]
    lines += ["Image -> caption (held-out images, generated vs true):", ""]
    lines += [f"- {e['caption']!r} (true: {e['truth']!r})" for e in r["examples"] if "caption" in e]
    lines += ["", "![held-out images](captioned_images.png)"]
    return "\n".join(lines) + "\n"


__all__ = ["evaluate_multimodal", "make_shapes"]
