"""Score a DiT run: FID and class accuracy per guidance scale, sample grids, report.json/.md."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfusion import __version__
from tfusion.config import to_dict
from tfusion.data.images import write_images, write_images_grid
from tfusion.data.shapes import adherence
from tfusion.devices import load_device
from tfusion.diffusion.guidance import class_balanced_labels
from tfusion.dit.sample import DiTRun
from tfusion.dit.train import image_split
from tfusion.errors import ConfigError
from tfusion.io import atomic_write_text, staged_report
from tfusion.metrics.images import shapes_scorer, train_scorer

SCALES = (1.0, 1.5, 4.0)


@staged_report
def evaluate_dit(
    run: str | Path,
    out: str | Path,
    n: int = 1000,
    scales: tuple[float, ...] = SCALES,
    sampler: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    grid_columns: int = 8,
    extra: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    ema: bool = True,
    scorer_steps: int = 1500,
) -> dict[str, Any]:
    """Sample n class-balanced images per guidance scale and score them against held-out images.

    The scorer (feature extractor + classifier) is trained on the run's training images with
    `seed`; FID compares the samples with the held-out images, beside the FID of the training
    images against the same held-out images (what a perfect generator would get with this
    extractor and this many images). `ema=False` scores the raw weights instead of the EMA ones.
    The scorer trains for at least `scorer_steps` steps (fewer only for quick checks: its
    held-out accuracy, in the report, says how far to trust its FID).
    The model samples and the scorer trains on `device`
    (default the CPU).
    """
    t0 = time.perf_counter()
    dev = load_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dit = DiTRun.load(run, ema=ema, device=dev)
    if dit.cfg.model.class_dropout == 0:  # no unconditional model to guide with: guidance 1 only
        scales = (1.0,)
    train, test = image_split(dit.cfg)
    ref = test if len(test) >= 2 else train
    classes = len(dit.classes)
    scorer = train_scorer(
        train.images,
        train.labels,
        test.images,
        test.labels,
        classes,
        seed=seed,
        min_steps=scorer_steps,
        device=dev,
    )
    labels = class_balanced_labels(n, classes)
    m = min(len(train), max(len(ref), 2))
    floor_idx = np.random.default_rng(seed).choice(len(train), m, replace=False)
    floor = scorer.fid(ref.images, train.images[floor_idx])
    rows = []
    for scale in scales:
        t1 = time.perf_counter()
        images = dit.generate(labels, guidance=scale, sampler=sampler, steps=steps, seed=seed)
        seconds = time.perf_counter() - t1
        rows.append(
            {
                "guidance": scale,
                "fid": scorer.fid(ref.images, images),
                "class_accuracy": scorer.accuracy(images, labels),
                "sample_seconds": seconds,
                "seconds_per_image": seconds / n,
            }
        )
        g_labels = np.repeat(np.arange(classes), grid_columns)
        grid_images = dit.generate(
            g_labels, guidance=scale, sampler=sampler, steps=steps, seed=seed + 1
        )
        write_images_grid(grid_images, out / f"grid_guidance_{scale:g}.png", grid_columns)
        if scale == scales[-1]:
            write_images(images, labels, out / "samples.npz")
    report = {
        "run": str(dit.path),
        "config": to_dict(dit.cfg),
        "classes": list(dit.classes),
        "images": {"train": len(train), "held_out": len(test), "generated_per_scale": n},
        "sampler": sampler or dit.cfg.sample.sampler,
        "sampler_steps": dit.settings(sampler=sampler, steps=steps).num_steps(dit.schedule),
        "weights": "ema" if ema else "raw",
        "scorer": {
            "kind": "CNN trained on this data set's training images (no Inception weights)",
            "held_out_accuracy": scorer.test_accuracy,
            "epochs": scorer.epochs,
        },
        "fid_train_vs_held_out": floor,
        "by_guidance": rows,
        "seed": seed,
        "device": str(dev),
        "versions": {"tfusion": __version__, "torch": torch.__version__},
        "seconds": time.perf_counter() - t0,
        **(extra or {}),
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=2))
    atomic_write_text(out / "report.md", _markdown(report))
    return report


def _markdown(r: dict[str, Any]) -> str:
    lines = [
        f"# DiT report: {r['run']}",
        "",
        str(r.get("title", "")),
        "",
        f"{r['images']['generated_per_scale']} class-balanced samples per guidance scale, "
        f"sampler {r['sampler']} with {r['sampler_steps']} steps.",
        "",
        "FID uses the features of a small CNN trained here on this data set's training images "
        "(no downloaded Inception weights), so it compares models scored the same way, not "
        "published Inception-FID numbers. Class accuracy is the share of samples that CNN "
        "assigns to the class they were generated for.",
        "",
        f"- scorer accuracy on held-out real images: {r['scorer']['held_out_accuracy']:.3f}",
        f"- FID of real training images vs held-out images (the floor): "
        f"{r['fid_train_vs_held_out']:.3f}",
        "",
        "| guidance | FID | class accuracy | s per image |",
        "|---|---|---|---|",
    ]
    for row in r["by_guidance"]:
        lines.append(
            f"| {row['guidance']:g} | {row['fid']:.3f} | {row['class_accuracy']:.3f} | "
            f"{row['seconds_per_image']:.4f} |"
        )
    lines += ["", "Sample grids (one row per class):", ""]
    for row in r["by_guidance"]:
        g = row["guidance"]
        lines.append(f"![guidance {g:g}](grid_guidance_{g:g}.png)")
    return "\n".join(lines) + "\n"


@staged_report
def evaluate_dit_text(
    run: str | Path,
    out: str | Path,
    n: int = 100,
    scales: tuple[float, ...] = (1.0, 3.0, 5.0),
    sampler: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    scorer_steps: int = 1500,
    extra: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    eta: float | None = None,
) -> dict[str, Any]:
    """Score a text-conditioned DiT on the shapes set: for the first n held-out captions, one
    image each per guidance scale; prompt adherence (colour, shape, position and all three,
    read back from the pixels by `tfusion.data.shapes.check_caption`) and FID against the
    held-out images (a CNN scorer trained on the training images' colour x shape), beside the
    FID of real training images (the floor). The same report as the Transfusion family's, so
    the two compare on one task."""
    t0 = time.perf_counter()
    dev = load_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dit = DiTRun.load(run, device=dev)
    if not dit.text or dit.cfg.data.source != "shapes":
        raise ConfigError(
            "the text report reads prompts back from pixels: it needs model.condition=text and "
            f"data.source=shapes (this run: {dit.cfg.model.condition}, {dit.cfg.data.source})"
        )
    train, test = image_split(dit.cfg)
    captions = list(test.captions or ())[:n]
    rows, last = [], None
    for scale in scales:
        t1 = time.perf_counter()
        images = dit.generate(
            captions, guidance=scale, sampler=sampler, steps=steps, seed=seed, eta=eta
        )
        seconds = time.perf_counter() - t1
        row = {"guidance": scale, **adherence(images, captions)}
        rows.append({**row, "seconds_per_image": seconds / len(images)})
        write_images_grid(images[:16], out / f"text_to_image_guidance_{scale:g}.png", 8)
        last = images
    scorer = shapes_scorer(train.images, test.images, seed, scorer_steps, dev)
    ref = test.images[: len(captions)]
    report = {
        "run": str(dit.path),
        "config": to_dict(dit.cfg),
        "prompts": len(captions),
        "sampler": sampler or dit.cfg.sample.sampler,
        "sampler_steps": dit.settings(sampler=sampler, steps=steps).num_steps(dit.schedule),
        "eta": dit.cfg.sample.eta if eta is None else eta,
        "prompt_adherence": rows,
        "fid": {
            "samples_at_last_scale": scorer.fid(ref, last),
            "train_vs_held_out": scorer.fid(ref, train.images[: len(ref)]),
            "scorer_held_out_accuracy": scorer.test_accuracy,
        },
        "device": str(dev),
        "seconds": time.perf_counter() - t0,
        **(extra or {}),
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=2))
    lines = [
        f"# DiT text-to-image report: {dit.path}",
        "",
        f"{len(captions)} held-out captions, sampler {report['sampler']} with "
        f"{report['sampler_steps']} steps; adherence read back from the pixels.",
        "",
        "| guidance | colour | shape | position | all three | s per image |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['guidance']:g} | {r['colour']:.3f} | {r['shape']:.3f} | {r['position']:.3f} "
            f"| {r['all']:.3f} | {r['seconds_per_image']:.4f} |"
        )
    f = report["fid"]
    lines += [
        "",
        f"FID at guidance {scales[-1]:g}: {f['samples_at_last_scale']:.3f} "
        f"(real training images: {f['train_vs_held_out']:.3f})",
    ]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return report
