"""Every verb for every family through the CLI: train a multimodal run from the command line,
draw from a prompt, caption an image, write a story; `tfusion info RUN` for each family; options
that mean nothing to a family are refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import TINY_TIMESERIES
from tfusion import families
from tfusion.cli.main import main
from tfusion.multimodal.decode import load_multimodal
from tfusion.multimodal.family import read_image
from tfusion.runs import summarise

MULTIMODAL_YAML = """\
family: multimodal
data: {source: shapes, samples: 120, size: 16}
model: {width: 32, depth: 1, heads: 2, patch: 4}
train: {steps: 30, batch_size: 8, lr: 0.003, warmup: 2, progress: false, log_every: 10,
        checkpoint_every: 30}
sample: {sampler: dpm++, steps: 3, guidance: 2.0, max_tokens: 6}
"""


@pytest.fixture(scope="module")
def mm_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mm")
    cfg = root / "mm.yaml"
    cfg.write_text(MULTIMODAL_YAML)
    run = root / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def ts_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ts") / "run"
    assert main(["train", "--out", str(run), *TINY_TIMESERIES, "train.steps=4"]) == 0
    return run


def test_multimodal_prompt_draws_n_images_like_the_library(mm_run, tmp_path, capsys):
    out = tmp_path / "x.npz"
    argv = ["sample", str(mm_run), "--prompt", "a red circle", "--n", "2", "--out", str(out)]
    assert main([*argv, "--guidance", "3"]) == 0
    assert "drew 2 image(s)" in capsys.readouterr().out
    got = np.load(out)["images"]  # (N, H, W, C) uint8
    assert got.shape == (2, 16, 16, 3)
    gen = load_multimodal(mm_run)
    want = gen.text_to_image(["a red circle"] * 2, 3.0, "dpm++", 3, seed=0)
    want = ((np.clip(want, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(got, want)
    png = tmp_path / "x.png"
    assert main(["sample", str(mm_run), "--prompt", "a blue square", "--out", str(png)]) == 0
    with Image.open(png) as im:
        assert im.size[0] >= 16 and im.mode == "RGB"


@pytest.mark.parametrize(
    ("call", "ignored"),
    [
        (["--caption", "IMG", "--steps", "5", "--guidance", "2"], "--steps, --guidance"),
        (["--prompt", "a red circle", "--out", "x.png", "--temperature", "0.5"], "--temperature"),
        (["--prompt", "a red circle", "--out", "x.txt", "--sampler", "ddpm"], "--sampler"),
        (["--prompt", "a red circle", "--out", "x.md", "--n", "3"], "--n"),
    ],
)
def test_multimodal_options_a_call_would_ignore_are_refused(
    mm_run, tmp_path, capsys, call, ignored
):
    # a caption draws no image, an image prompt writes no text, .txt draws no image, a story
    # draws its images one by one: these options had been accepted and did nothing
    img = tmp_path / "in.png"
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(img)
    argv = [
        str(img) if a == "IMG" else str(tmp_path / a) if a.startswith("x.") else a for a in call
    ]
    assert main(["sample", str(mm_run), *argv]) == 2
    err = capsys.readouterr().err
    assert f"{ignored} would be ignored" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.glob("x.*"))  # nothing written


def test_multimodal_caption_of_an_image_file(mm_run, tmp_path, capsys):
    img = tmp_path / "in.png"
    pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    pixels[4:14, 4:14] = (220, 30, 30)
    Image.fromarray(pixels).save(img)
    txt = tmp_path / "caption.txt"
    assert main(["sample", str(mm_run), "--caption", str(img), "--out", str(txt)]) == 0
    printed = capsys.readouterr().out.strip()
    gen = load_multimodal(mm_run)
    want = gen.caption(read_image(img, 3, 16), max_tokens=6)[0]
    assert printed == want
    assert txt.read_text() == want + "\n"
    x = read_image(img, 3, 16)
    assert x.shape == (1, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert x[0, 0, 4, 4] > 0.5 and x[0, 2, 4, 4] < -0.5  # red stays red after resizing


def test_multimodal_story_and_text(mm_run, tmp_path, capsys):
    story = tmp_path / "story.md"
    assert main(["sample", str(mm_run), "--prompt", "a green", "--out", str(story)]) == 0
    text = story.read_text()
    assert text.startswith("a green")
    for name in [w.split("(")[1].rstrip(")") for w in text.split() if w.startswith("1](")]:
        assert (tmp_path / name).is_file()
    txt = tmp_path / "story.txt"
    assert main(["sample", str(mm_run), "--prompt", "a green", "--out", str(txt)]) == 0
    gen = load_multimodal(mm_run)
    segments = gen.generate(
        "a green", max_tokens=6, guidance=2.0, sampler="dpm++", steps=3, max_images=0
    )
    assert txt.read_text() == "a green" + "".join(segments) + "\n"


def test_multimodal_needs_a_mode_and_refuses_time_series_options(mm_run, tmp_path, capsys):
    assert main(["sample", str(mm_run), "--out", str(tmp_path / "a.png")]) == 2
    assert "--prompt" in capsys.readouterr().err
    argv = ["sample", str(mm_run), "--prompt", "a", "--out", str(tmp_path / "a.png")]
    assert main([*argv, "--labels", "1"]) == 2
    err = capsys.readouterr().err
    assert "--labels" in err and "multimodal" in err and len(err.strip().splitlines()) == 1
    assert main(["sample", str(mm_run), "--prompt", "a", "--out", str(tmp_path / "a.csv")]) == 2
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "a.csv").exists()
    text = ["sample", str(mm_run), "--prompt", "a", "--out", str(tmp_path / "a.txt")]
    assert main([*text, "--top-p", "2"]) == 2  # checked like the config, before the model loads
    assert "top_p" in capsys.readouterr().err and not (tmp_path / "a.txt").exists()
    assert main(["impute", str(mm_run), "--input", "x.csv", "--out", str(tmp_path / "o.csv")]) == 2
    assert "time-series runs" in capsys.readouterr().err


def test_time_series_refuses_a_prompt(ts_run, tmp_path, capsys):
    out = tmp_path / "w.npy"
    assert main(["sample", str(ts_run), "--prompt", "hello", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--prompt" in err and "timeseries" in err and not out.exists()
    assert main(["sample", str(ts_run), "--n", "3", "--out", str(out)]) == 0
    assert np.load(out).shape == (3, 16, 2)


def _tiny_dit_run(root: Path) -> Path:
    """A 3-step DiT run on 32 two-class 8 x 8 images, trained through the CLI."""
    labels = np.arange(32) % 2
    images = np.where(labels[:, None, None] == 1, 0.9, 0.1) * np.ones((32, 8, 8))
    np.savez(root / "two.npz", images=images, labels=labels)
    cfg = root / "dit.yaml"
    cfg.write_text(
        "family: dit\n"
        f"data: {{source: {root / 'two.npz'}, test_fraction: 0.25}}\n"
        "model: {preset: DiT-Mini/2, depth: 1, width: 32, heads: 2, patch: 4}\n"
        "train: {steps: 3, batch_size: 8, progress: false, checkpoint_every: 3}\n"
    )
    run = root / "dit_run"
    assert main(["train", "--config", str(cfg), "--out", str(run)]) == 0
    return run


def _state_count(model: torch.nn.Module) -> int:
    return sum(v.numel() for v in model.state_dict().values())


def test_info_run_for_every_family(mm_run, ts_run, tmp_path, capsys):
    dit_run = _tiny_dit_run(tmp_path)
    for run, family, steps in (
        (mm_run, "multimodal", 30),
        (ts_run, "timeseries", 4),
        (dit_run, "dit", 3),
    ):
        assert main(["info", str(run)]) == 0
        out = capsys.readouterr().out
        assert f"family: {family}" in out
        assert f"trained: {steps} of {steps} steps" in out
        assert "sampler defaults:" in out and "model:" in out and "data:" in out
        model = families.get(family).load(run)
        net = getattr(model, "model", model)
        assert summarise(run).parameters == _state_count(net)
    assert main(["info", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err


def test_resuming_a_finished_run_says_so_instead_of_a_nan_loss(ts_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(ts_run, run)
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume"]) == 0
    out = capsys.readouterr()
    said = out.out + out.err
    assert "no step left to train" in said and "nan" not in said.lower()
