"""Transfusion training on shapes: run folder, exact resume, learning, loading and decoding."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from safetensors.numpy import load_file

from tfusion.config import TrainConfig
from tfusion.data.images import load_captioned_folder
from tfusion.errors import DataError
from tfusion.multimodal.config import (
    MultimodalDataConfig,
    MultimodalModelConfig,
    MultimodalRunConfig,
    MultimodalSampleConfig,
)
from tfusion.multimodal.decode import load_multimodal
from tfusion.multimodal.train import train_multimodal


def tiny(steps: int, **train) -> MultimodalRunConfig:
    return MultimodalRunConfig(
        data=MultimodalDataConfig(samples=200, size=16),
        model=MultimodalModelConfig(width=32, depth=2, heads=2, patch=4),
        train=TrainConfig(
            steps=steps,
            batch_size=8,
            lr=3e-3,
            warmup=5,
            progress=False,
            log_every=10,
            checkpoint_every=steps,
            betas=(0.9, 0.95),
            weight_decay=0.1,
            **train,
        ),
        sample=MultimodalSampleConfig(steps=4, sampler="dpm++", guidance=2.0, max_tokens=8),
    )


def test_training_learns_and_the_run_decodes(tmp_path):
    run = tmp_path / "run"
    train_multimodal(tiny(120), run)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["loss"] < 0.7 * rows[0]["loss"], (rows[0]["loss"], rows[-1]["loss"])
    gen = load_multimodal(run)
    images = gen.text_to_image(["a red circle on the left"], 2.0, "dpm++", 4)
    assert images.shape == (1, 3, 16, 16) and np.isfinite(images).all()
    captions = gen.caption(images, max_tokens=6)
    assert len(captions) == 1 and isinstance(captions[0], str)
    assert gen.caption_perplexity(images, ["a red circle on the left"]) > 1.0


def test_resume_is_exact(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train_multimodal(tiny(6), a)
    train_multimodal(tiny(6, stop_after=3), b)
    train_multimodal(tiny(6), b, resume=True)
    wa, wb = load_file(a / "ema.safetensors"), load_file(b / "ema.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k


def captioned_folder(root, kind: str):
    """Six 20 x 20 PNGs (resized to 16 by data.size) and a captions file of `kind`."""
    from PIL import Image

    root.mkdir()
    rng = np.random.default_rng(0)
    names = []
    for i in range(6):
        pixels = np.zeros((20, 20, 3), dtype=np.uint8)
        pixels[:, :, i % 3] = 200 + rng.integers(0, 50, (20, 20))  # red, green or blue
        Image.fromarray(pixels).save(root / f"im{i}.png")
        names.append(f"im{i}.png")
    words = ["red", "green", "blue"]
    if kind == "txt":
        lines = [f"{n}\ta {words[i % 3]} picture" for i, n in enumerate(names)]
        (root / "captions.txt").write_text("\n".join(lines) + "\n")
    elif kind == "csv":
        lines = ["file_name,text", *(f"{n},a {words[i % 3]} picture" for i, n in enumerate(names))]
        (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    else:
        rows = [
            {"file_name": n, "caption": f"a {words[i % 3]} picture"} for i, n in enumerate(names)
        ]
        (root / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


@pytest.mark.parametrize("kind", ["txt", "csv", "jsonl"])
def test_a_folder_with_a_captions_file_is_a_data_set(tmp_path, kind):
    folder = captioned_folder(tmp_path / "pics", kind)
    images, captions = load_captioned_folder(folder, 16)
    assert images.shape == (6, 3, 16, 16) and images.min() >= -1 and images.max() <= 1
    assert captions[:3] == ["a red picture", "a green picture", "a blue picture"]
    # the caption matches its image: the named channel is the bright one
    assert all(
        images[i, i % 3].mean() > 0.3 and images[i, (i + 1) % 3].max() == -1 for i in range(6)
    )
    cfg = replace(
        tiny(4), data=MultimodalDataConfig(source=str(folder), size=16, test_fraction=0.2)
    )
    train_multimodal(cfg, tmp_path / "run")
    assert load_multimodal(tmp_path / "run").spec.size == 16


def test_caption_folder_errors_are_one_line(tmp_path):
    folder = captioned_folder(tmp_path / "pics", "txt")
    (folder / "captions.txt").write_text("../secret.png\tescape\n")
    with pytest.raises(DataError, match="outside"):
        load_captioned_folder(folder, 16)
    (folder / "captions.txt").write_text("im0.png a caption without a tab\n")
    with pytest.raises(DataError, match="no tab"):
        load_captioned_folder(folder, 16)
    (folder / "captions.txt").write_text("missing.png\tx\n")
    with pytest.raises(DataError, match="not a file"):
        load_captioned_folder(folder, 16)
    (folder / "captions.txt").unlink()
    with pytest.raises(DataError, match="no captions file"):
        load_captioned_folder(folder, 16)


def test_latent_images_train_sample_and_caption(tmp_path):
    # model.latent=train: a small autoencoder is trained first, the transformer sees its
    # 8 x 8 x 4 latents (2 x 2 patches), and every output is decoded back to 16 x 16 pixels
    base = tiny(4)
    cfg = replace(
        base,
        model=replace(base.model, latent="train", latent_steps=30, latent_factor=2, patch=2),
    )
    run = tmp_path / "run"
    train_multimodal(cfg, run)
    assert (run / "autoencoder.json").is_file()
    gen = load_multimodal(run)
    assert (gen.spec.channels, gen.spec.size, gen.spec.patch) == (4, 8, 2)
    images = gen.text_to_image(["a red circle on the left"], 2.0, "dpm++", 3)
    assert images.shape == (1, 3, 16, 16) and np.abs(images).max() <= 1.0
    assert isinstance(gen.caption(images, max_tokens=4)[0], str)
    out = gen.generate("a red", max_tokens=3, force_image=True, sampler="dpm++", steps=3)
    assert out[0].shape == (3, 16, 16)
    # the latents are not clipped to [-1, 1] the way pixels are
    assert gen.clip is None


def test_cli_ddpm_without_steps_takes_every_step_of_the_schedule(tmp_path, monkeypatch):
    # the run samples with dpm++ in 4 steps; `--sampler ddpm` alone means the whole chain (all
    # T), as in the other families, and `--steps` still wins
    from tfusion.cli.main import main
    from tfusion.multimodal.decode import MultimodalGenerator

    run = tmp_path / "run"
    cfg = tiny(1)
    train_multimodal(replace(cfg, diffusion=replace(cfg.diffusion, steps=50)), run)
    seen = []

    def spy(self, prompts, guidance, sampler, steps, *args, **kw):
        seen.append((sampler, steps))
        return np.zeros((len(prompts), 3, 16, 16), dtype=np.float32)

    monkeypatch.setattr(MultimodalGenerator, "text_to_image", spy)
    for i, extra in enumerate([["--sampler", "ddpm"], [], ["--sampler", "ddpm", "--steps", "7"]]):
        out = str(tmp_path / f"x{i}.npz")
        main(["sample", str(run), "--prompt", "a red circle", "--out", out, *extra])
    assert seen == [("ddpm", 50), ("dpm++", 4), ("ddpm", 7)]
