"""DiT end to end on tiny data: training, exact resume, class conditioning, guidance, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tfusion.cli.main import main
from tfusion.config import DiffusionConfig, TrainConfig, dump_yaml
from tfusion.dit.config import DiTModelConfig, DiTRunConfig, ImageDataConfig, ImageSampleConfig
from tfusion.dit.sample import DiTRun
from tfusion.dit.train import train_dit
from tfusion.errors import CheckpointError


def two_class_npz(path, n=64, size=8):
    """Class 0: dark images (about -0.8), class 1: bright images (about +0.8)."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    base = np.where(labels[:, None, None] == 1, 0.9, 0.1)
    images = np.clip(base + 0.05 * rng.standard_normal((n, size, size)), 0, 1)
    np.savez(path, images=images, labels=labels)
    return path


def tiny_config(source, steps=300, **train) -> DiTRunConfig:
    return DiTRunConfig(
        data=ImageDataConfig(source=str(source), test_fraction=0.25),
        model=DiTModelConfig(preset="DiT-Mini/2", depth=2, width=32, heads=2, patch=4),
        diffusion=DiffusionConfig(schedule="cosine", prediction="v"),
        train=TrainConfig(
            steps=steps,
            batch_size=16,
            lr=2e-3,
            warmup=10,
            ema_decay=0.99,
            progress=False,
            checkpoint_every=max(1, steps),
            **train,
        ),
        sample=ImageSampleConfig(steps=10, guidance=1.0),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("dit")
    data = two_class_npz(root / "two.npz")
    run = root / "run"
    train_dit(tiny_config(data), run)
    return data, run


def test_run_folder_has_the_checkpoint_files(trained):
    _, run = trained
    for name in ("config.yaml", "data_state.json", "model.safetensors", "ema.safetensors"):
        assert (run / name).is_file(), name
    state = json.loads((run / "data_state.json").read_text())
    assert state["classes"] == ["0", "1"] and state["image_size"] == 8
    weights = load_file(run / "ema.safetensors")
    assert weights["pos_embed"].shape == (1, 4, 32)  # 8 / 4 = 2 x 2 tokens


def test_class_condition_controls_the_samples(trained):
    _, run = trained
    dit = DiTRun.load(run)
    x = dit.generate([0] * 8 + [1] * 8, guidance=1.0, seed=0)
    assert x.shape == (16, 1, 8, 8)
    dark, bright = x[:8].mean(), x[8:].mean()
    assert dark < -0.5 and bright > 0.5, (dark, bright)


def test_guidance_pushes_toward_the_class(trained):
    _, run = trained
    dit = DiTRun.load(run)
    labels = [1] * 8
    plain = dit.generate(labels, guidance=1.0, seed=1)
    guided = dit.generate(labels, guidance=3.0, seed=1)
    # the conditional direction is "brighter": guidance may only move further that way (or clip)
    assert guided.mean() >= plain.mean() - 1e-3


def test_sampling_is_reproducible_and_checks_labels(trained):
    _, run = trained
    dit = DiTRun.load(run)
    a = dit.generate([0, 1], seed=5)
    b = dit.generate([0, 1], seed=5)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(Exception, match="out of range"):
        dit.generate([2])


def test_resume_is_exact(tmp_path):
    data = two_class_npz(tmp_path / "two.npz", n=16)
    straight, split = tmp_path / "a", tmp_path / "b"
    train_dit(tiny_config(data, steps=8), straight)
    train_dit(tiny_config(data, steps=8, stop_after=4), split)
    train_dit(tiny_config(data, steps=8), split, resume=True)
    a, b = load_file(straight / "ema.safetensors"), load_file(split / "ema.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k].numpy(), b[k].numpy()), k


def test_cli_trains_samples_and_rejects_bad_labels(tmp_path, capsys):
    data = two_class_npz(tmp_path / "two.npz", n=16)
    cfg = tmp_path / "dit.yaml"
    cfg.write_text(dump_yaml(tiny_config(data, steps=4)))
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run)]) == 0
    assert "images/s" in capsys.readouterr().out
    out = tmp_path / "grid.png"
    assert main(["sample", str(run), "--n", "4", "--steps", "3", "--out", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 0
    capsys.readouterr()
    bad = tmp_path / "bad.npz"
    code = main(["sample", str(run), "--labels", "0,7", "--out", str(bad)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "out of range" in err and "\n" not in err
    assert not bad.exists()  # nothing half-written
    # one label with --n N draws N images of it; other counts that do not match are refused
    three = tmp_path / "three.npz"
    code = main(
        ["sample", str(run), "--labels", "1", "--n", "3", "--steps", "2", "--out", str(three)]
    )
    assert code == 0 and list(np.load(three)["labels"]) == [1, 1, 1]
    code = main(["sample", str(run), "--labels", "0,1", "--n", "3", "--out", str(bad)])
    assert code == 2 and "got 2 labels for --n 3" in capsys.readouterr().err


def test_mismatched_checkpoint_is_one_clear_error(trained, tmp_path):
    data, run = trained
    other = tmp_path / "other"
    cfg = tiny_config(data, steps=2)
    wide = DiTRunConfig(
        data=cfg.data,
        model=DiTModelConfig(preset="DiT-Mini/2", depth=2, width=64, heads=2, patch=4),
        diffusion=cfg.diffusion,
        train=cfg.train,
        sample=cfg.sample,
    )
    train_dit(wide, other)
    (other / "ema.safetensors").write_bytes((run / "ema.safetensors").read_bytes())
    with pytest.raises(CheckpointError) as info:
        DiTRun.load(other)
    assert "\n" not in str(info.value)


def test_learned_variance_is_trained_by_the_hybrid_loss_and_sampled_by_ddpm(tmp_path):
    """learn_sigma: the hybrid loss moves the variance half off its zero start (with
    vlb_weight 0 it stays exactly zero: nothing trains it), and DDPM samples with it."""
    import torch

    from tfusion.dit.train import image_split

    data = two_class_npz(tmp_path / "two.npz")
    outputs = {}
    for weight in (1.0, 0.0):
        cfg = tiny_config(data, steps=300)
        cfg = DiTRunConfig(
            data=cfg.data,
            model=DiTModelConfig(
                preset="DiT-Mini/2",
                depth=2,
                width=32,
                heads=2,
                patch=4,
                learn_sigma=True,
                vlb_weight=weight,
            ),
            diffusion=DiffusionConfig(schedule="linear", prediction="v"),  # any prediction
            train=cfg.train,
            sample=ImageSampleConfig(sampler="ddpm", steps=25, guidance=1.0),
        )
        run = tmp_path / f"w{weight:g}"
        train_dit(cfg, run)
        dit = DiTRun.load(run, ema=False)
        images = torch.from_numpy(image_split(cfg)[0].images[:8])
        with torch.no_grad():
            out = dit.model(images, torch.full((8,), 0.3), torch.zeros(8, dtype=torch.long))
        assert out.shape[1] == 2
        outputs[weight] = out[:, 1:]
        if weight == 1.0:
            x = dit.generate([0] * 8 + [1] * 8, seed=0)
            assert x[:8].mean() < -0.5 < 0.5 < x[8:].mean(), (x[:8].mean(), x[8:].mean())
    assert outputs[0.0].abs().max() == 0
    assert outputs[1.0].abs().max() > 0.01


def test_evaluate_scores_the_raw_weights_when_asked(trained, tmp_path):
    from tfusion.dit.evaluate import evaluate_dit

    _, run = trained
    reports, samples = {}, {}
    for ema in (True, False):
        out = tmp_path / f"ema_{ema}"
        reports[ema] = evaluate_dit(run, out, n=8, scales=(1.0,), ema=ema, scorer_steps=20)
        samples[ema] = np.load(out / "samples.npz")["images"]
    assert reports[True]["weights"] == "ema" and reports[False]["weights"] == "raw"
    # the same labels and seed: the two weight sets draw different images
    assert np.abs(samples[True].astype(int) - samples[False].astype(int)).max() >= 2


@pytest.mark.parametrize("steps", [100, 4000])
def test_the_time_embedding_counts_the_runs_own_steps(tmp_path, monkeypatch, steps):
    """Released DiT embeds the integer step n = t T - 1 in [0, T): the model had always
    counted in thousandths, so T = 100 embedded steps 0, 1, 99 as 9, 19, 999 and T = 4000 as
    -0.75, -0.5, 999. The run records its T, and loading rebuilds the same embedding."""
    from dataclasses import replace

    from tfusion.nn import embeddings

    cfg = tiny_config(two_class_npz(tmp_path / "d.npz"), steps=1)
    cfg = replace(cfg, diffusion=replace(cfg.diffusion, steps=steps))
    run = tmp_path / "run"
    train_dit(cfg, run)
    assert json.loads((run / "data_state.json").read_text())["time_embedding_steps"] == steps
    loaded = DiTRun.load(run)
    seen = []
    real = embeddings.sinusoidal

    def spy(x, *args, **kwargs):
        seen.append(x.detach().clone())
        return real(x, *args, **kwargs)

    monkeypatch.setattr(embeddings, "sinusoidal", spy)
    n = torch.tensor([0.0, 1.0, steps - 1.0])
    x = torch.zeros(3, 1, 8, 8)
    loaded.model(x, (n + 1) / steps, torch.tensor([0, 1, 0]))
    torch.testing.assert_close(seen[0], n)
    # a run saved before the field existed is read as T = 1000, as it was trained
    state = json.loads((run / "data_state.json").read_text())
    del state["time_embedding_steps"]
    (run / "data_state.json").write_text(json.dumps(state))
    assert DiTRun.load(run).model.shape.num_timesteps == 1000


def test_a_run_without_the_unconditional_model_is_evaluated_at_guidance_1(tmp_path):
    # evaluate always asked for guidance 1.5 and 4 and failed on a class_dropout=0 run (after
    # training its scorer); configs/dit-paper.yaml even pointed to a --guidance flag
    from dataclasses import replace

    from tfusion.dit.evaluate import evaluate_dit

    cfg = tiny_config(two_class_npz(tmp_path / "d.npz"), steps=2)
    cfg = replace(cfg, model=replace(cfg.model, class_dropout=0.0))
    run = tmp_path / "run"
    train_dit(cfg, run)
    report = evaluate_dit(run, tmp_path / "ev", n=4, scorer_steps=20)
    assert [row["guidance"] for row in report["by_guidance"]] == [1.0]
    assert (tmp_path / "ev" / "report.md").exists()


def test_options_that_break_images_are_refused():
    # the Fourier term transformed the colour channels; flips contradicted side-naming captions
    from dataclasses import replace

    from tfusion.errors import ConfigError

    cfg = DiTRunConfig()
    with pytest.raises(ConfigError, match="fourier_weight is a time-series loss term"):
        replace(cfg, diffusion=replace(cfg.diffusion, fourier_weight=0.5))
    with pytest.raises(ConfigError, match=r"data\.flip mirrors images"):
        replace(
            cfg,
            data=replace(cfg.data, source="shapes", flip=True),
            model=replace(cfg.model, condition="text"),
        )
    replace(cfg, data=replace(cfg.data, flip=True))  # class labels survive a flip
