"""Gradient accumulation (train.accumulate=K): a step computed in K micro-batches reaches the
weights of the step computed on the whole batch, for the time-series, DiT and Transfusion
trainers, and the micro-batches partition the global batch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import TINY_TIMESERIES, assert_same_weights, error_of, two_class_images
from tfusion.config import TrainConfig, apply_overrides
from tfusion.errors import ConfigError, TrainingError
from tfusion.training.distributed import World


def test_micro_batches_partition_the_global_batch_in_rank_order():
    x = torch.arange(24)
    for size in (1, 2):
        pieces = [World(r, size).micro(j, 3).shard(x) for r in range(size) for j in range(3)]
        # every (rank, micro-batch) takes its own equal slice; together, the whole batch once
        assert all(len(p) == 24 // (size * 3) for p in pieces)
        assert torch.equal(torch.cat(pieces), x)
        # a rank's micro-batches together are the rank's slice without micro-batches
        for r in range(size):
            mine = torch.cat([World(r, size).micro(j, 3).shard(x) for j in range(3)])
            assert torch.equal(mine, World(r, size).shard(x))
    assert World(1, 2).micro(2, 3).slices == 6 and World(1, 2).micro(2, 3).size == 2


def test_batch_must_split_into_equal_micro_batches_whatever_the_override_order():
    msg = error_of(lambda: TrainConfig(batch_size=10, accumulate=4).micro_batch, cls=ConfigError)
    assert "train.batch_size (10)" in msg and "train.accumulate (4)" in msg
    assert "train.accumulate" in error_of(TrainConfig, accumulate=0, cls=ConfigError)
    # overrides apply one at a time: the half-applied config (64 / 3) is not refused
    from tfusion.timeseries.config import RunConfig

    for order in (["train.accumulate=3", "train.batch_size=12"], ["train.batch_size=12"]):
        cfg = apply_overrides(RunConfig(), [*order, "train.accumulate=3"])
        assert cfg.train.micro_batch == 4
    # the trainer checks the finished config before it loads anything
    bad = apply_overrides(RunConfig(), [*TINY_TIMESERIES, "train.accumulate=3"])
    assert "train.accumulate (3)" in error_of(lambda: bad.train.for_examples(100), cls=ConfigError)


def test_a_loss_of_model_and_generator_alone_runs_whole_but_not_in_micro_batches(tmp_path):
    from torch import nn

    from tfusion.training.loop import fit

    seen = []

    def loss_fn(m: nn.Module, gen: torch.Generator) -> torch.Tensor:
        x = torch.randn(8, 2, generator=gen)
        seen.append(len(x))
        return m(x).pow(2).mean()

    cfg = TrainConfig(steps=2, batch_size=8, progress=False, warmup=0)
    fit(nn.Linear(2, 1), loss_fn, cfg, tmp_path, {})
    assert seen == [8, 8]
    cfg = TrainConfig(steps=2, batch_size=8, accumulate=2, progress=False, warmup=0)
    msg = error_of(fit, nn.Linear(2, 1), loss_fn, cfg, tmp_path, {}, cls=ConfigError)
    assert "(model, generator, world)" in msg
    # accumulate=auto cannot cut it either: a step out of memory stops at once, not retried
    calls = []

    def too_big(m: nn.Module, gen: torch.Generator) -> torch.Tensor:
        calls.append(1)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    cfg = TrainConfig(steps=2, batch_size=8, accumulate="auto", progress=False, warmup=0)
    (tmp_path / "auto").mkdir()
    msg = error_of(fit, nn.Linear(2, 1), too_big, cfg, tmp_path / "auto", {}, cls=TrainingError)
    assert "ran out of" in msg and calls == [1]


def losses(run) -> list[float]:
    return [json.loads(r)["loss"] for r in (run / "metrics.jsonl").open()]


def test_timeseries_micro_batches_equal_the_whole_batch(tmp_path):
    from tfusion.timeseries.config import RunConfig
    from tfusion.timeseries.train import train_timeseries

    args = [
        *TINY_TIMESERIES,
        "model.dropout=0",  # masks are drawn per micro-batch: the one thing that differs
        "train.steps=5",
        "train.warmup=1",
        "train.log_every=1",
        "train.bf16=false",
        "train.batch_size=8",
    ]
    train_timeseries(apply_overrides(RunConfig(), args), tmp_path / "one")
    train_timeseries(apply_overrides(RunConfig(), [*args, "train.accumulate=4"]), tmp_path / "k4")
    from tfusion.info import describe_run

    assert "batch 8 per step in 4 micro-batches" in describe_run(tmp_path / "k4")
    assert "batch 8 per step\n" in describe_run(tmp_path / "one")  # whole: no micro-batches
    assert_same_weights(tmp_path / "k4", tmp_path / "one")
    np.testing.assert_allclose(losses(tmp_path / "k4"), losses(tmp_path / "one"), rtol=1e-5)
    # a different batch really gives different weights (the comparison can fail)
    train_timeseries(apply_overrides(RunConfig(), [*args, "train.batch_size=4"]), tmp_path / "half")
    with pytest.raises(AssertionError):
        assert_same_weights(tmp_path / "half", tmp_path / "one")


def test_dit_micro_batches_with_class_dropout_and_flips_equal_the_whole_batch(tmp_path):
    from tfusion.dit.config import DiTRunConfig
    from tfusion.dit.train import train_dit

    two_class_images(tmp_path / "two.npz")
    args = [
        f"data.source={tmp_path / 'two.npz'}",
        "data.test_fraction=0.25",
        "data.flip=true",
        "model.preset=DiT-Mini/2",
        "model.depth=2",
        "model.heads=2",
        "model.width=32",
        "model.patch=4",
        "model.class_dropout=0.3",
        "train.steps=4",
        "train.warmup=1",
        "train.progress=false",
        "train.log_every=1",
        "train.bf16=false",
        "train.batch_size=8",
    ]
    train_dit(apply_overrides(DiTRunConfig(), args), tmp_path / "one")
    train_dit(apply_overrides(DiTRunConfig(), [*args, "train.accumulate=2"]), tmp_path / "k2")
    assert_same_weights(tmp_path / "k2", tmp_path / "one")
    np.testing.assert_allclose(losses(tmp_path / "k2"), losses(tmp_path / "one"), rtol=1e-5)


def test_transfusion_micro_batches_equal_the_whole_batch(tmp_path):
    # sequences of different lengths and mixes (text tokens, images, caption dropout): the LM
    # and diffusion means use the whole batch's counts, so the split changes nothing
    from tfusion.multimodal.config import MultimodalRunConfig
    from tfusion.multimodal.train import train_multimodal

    args = [
        "data.source=shapes",
        "data.size=16",
        "data.samples=200",
        "model.width=32",
        "model.depth=2",
        "model.heads=2",
        "model.patch=4",
        "train.steps=4",
        "train.warmup=1",
        "train.progress=false",
        "train.log_every=1",
        "train.bf16=false",
        "train.batch_size=8",
    ]
    train_multimodal(apply_overrides(MultimodalRunConfig(), args), tmp_path / "one")
    k4 = [*args, "train.accumulate=4"]
    train_multimodal(apply_overrides(MultimodalRunConfig(), k4), tmp_path / "k4")
    assert_same_weights(tmp_path / "k4", tmp_path / "one")
    np.testing.assert_allclose(losses(tmp_path / "k4"), losses(tmp_path / "one"), rtol=1e-5)
    assert losses(tmp_path / "one")[-1] < losses(tmp_path / "one")[0]


def test_panel_micro_batches_with_padding_and_attributes_equal_the_whole_batch(tmp_path):
    # whole sequences of 4..8 steps (padded, masked per sample) with static attributes, a
    # categorical channel and the attribute model's own batch: all sliced the same way
    import pandas as pd

    from tfusion.cli.main import main

    rows = [
        {
            "id": f"e{k:02d}",
            "day": i,
            "sector": ("bank", "tech")[k % 2],
            "state": "abc"[(i + k) % 3],
            "power": k + i / 10,
        }
        for k in range(16)
        for i in range(4 + k % 5)
    ]
    src = tmp_path / "panel.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    args = [
        f"data.source={src}",
        "data.entity=id",
        "data.time=day",
        "data.static=[sector]",
        "data.categorical=[state]",
        "data.whole=true",
        "model.preset=tiny",
        "model.width=32",
        "model.depth=1",
        "model.ff=64",
        "model.dropout=0",
        "train.steps=4",
        "train.warmup=1",
        "train.log_every=1",
        "train.batch_size=8",
        "train.bf16=false",
        "train.progress=false",
    ]
    assert main(["train", "--out", str(tmp_path / "one"), *args]) == 0
    assert main(["train", "--out", str(tmp_path / "k2"), *args, "train.accumulate=2"]) == 0
    assert_same_weights(tmp_path / "k2", tmp_path / "one")
    np.testing.assert_allclose(losses(tmp_path / "k2"), losses(tmp_path / "one"), rtol=1e-5)


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory"
        ),
    ],
)
def test_a_step_out_of_memory_is_one_line_that_names_train_accumulate(tmp_path, error):
    from torch import nn

    from tfusion.errors import TrainingError
    from tfusion.training.loop import fit

    calls = [0]

    def loss_fn(m: nn.Module, gen: torch.Generator, world: World) -> torch.Tensor:
        calls[0] += 1
        if calls[0] == 3:  # the third step: after the checkpoint of step 2
            raise error
        return m(torch.randn(8, 2, generator=gen)).pow(2).mean()

    cfg = TrainConfig(steps=5, batch_size=8, checkpoint_every=2, progress=False, warmup=0)
    msg = error_of(fit, nn.Linear(2, 1), loss_fn, cfg, tmp_path, {}, cls=TrainingError)
    assert "step 3 ran out of host (CPU) memory with micro-batches of 8" in msg
    assert "train.accumulate=2 (the same steps in micro-batches of 4" in msg
    assert str(tmp_path) in msg and str(error).split(".")[0][:40] in msg
    assert (tmp_path / "train_state.pt").exists()  # the step-2 checkpoint is kept
    # other errors pass through unchanged
    calls[0] = 0
    error = ValueError("a bug")
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match="a bug"):
        fit(nn.Linear(2, 1), loss_fn, cfg, tmp_path / "b", {})


def fits_three_rows():
    """A loss over batches of 12 that "runs out of memory" above 3 rows per micro-batch, and the
    list of the micro-batch sizes it was called with."""
    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    tries: list[int] = []

    def loss_fn(m: torch.nn.Module, gen: torch.Generator, world: World) -> torch.Tensor:
        idx = world.shard(torch.randint(len(data), (12,), generator=gen))
        tries.append(len(idx))
        if len(idx) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        noise = world.shard(torch.randn(12, 1, generator=gen))
        return (m(data[idx]) - noise).pow(2).mean()

    return loss_fn, tries


def test_auto_redoes_a_step_that_does_not_fit_in_smaller_micro_batches(tmp_path, capsys):
    # a loss that "runs out of memory" above 3 rows per micro-batch: auto goes 12 -> 6 -> 3
    # rows (1 -> 2 -> 4 micro-batches) at the first step and then trains exactly like a run
    # told accumulate=4 from the start
    from torch import nn

    from tfusion.training.loop import fit

    loss_fn, tries = fits_three_rows()

    def run(name: str, accumulate) -> dict:
        torch.manual_seed(0)
        model = nn.Linear(2, 1)
        cfg = TrainConfig(
            steps=4, batch_size=12, accumulate=accumulate, progress=False, warmup=0, bf16=False
        )
        (tmp_path / name).mkdir()
        fit(model, loss_fn, cfg, tmp_path / name, {})
        return json.loads((tmp_path / name / "training.json").read_text())

    auto = run("auto", "auto")
    assert tries[:2] == [12, 6] and tries[2:] == [3] * 16  # 4 steps x 4 micro-batches
    assert auto["accumulate"] == 4 and auto["micro_batch"] == 3
    out = capsys.readouterr().out
    assert "step 1 did not fit in memory with micro-batches of 12" in out
    assert "now uses 4 of 3" in out
    run("fixed", 4)
    assert_same_weights(tmp_path / "auto", tmp_path / "fixed", atol=1e-7)
    # not auto: the same loss stops with the one-line message
    (tmp_path / "one").mkdir()
    cfg = TrainConfig(steps=2, batch_size=12, progress=False, warmup=0)
    msg = error_of(fit, nn.Linear(2, 1), loss_fn, cfg, tmp_path / "one", {}, cls=TrainingError)
    assert "train.accumulate=2 (the same steps in micro-batches of 6" in msg


def test_auto_gives_up_at_one_example_per_micro_batch(tmp_path):
    from torch import nn

    from tfusion.training.loop import fit

    def loss_fn(m: nn.Module, gen: torch.Generator, world: World) -> torch.Tensor:
        raise MemoryError()

    cfg = TrainConfig(steps=2, batch_size=4, accumulate="auto", progress=False, warmup=0)
    msg = error_of(fit, nn.Linear(2, 1), loss_fn, cfg, tmp_path, {}, cls=TrainingError)
    assert "micro-batches of 1" in msg and "lower train.batch_size" in msg


def test_auto_resumes_at_the_micro_batch_count_it_settled_on(tmp_path, capsys):
    # the count auto found is checkpointed: a resumed run does not run out of memory again
    # step by step to find it, and ends with the weights of the uninterrupted run
    from torch import nn

    from tfusion.training.loop import fit

    loss_fn, tries = fits_three_rows()

    def cfg(stop_after=None) -> TrainConfig:
        return TrainConfig(
            steps=4,
            batch_size=12,
            accumulate="auto",
            progress=False,
            warmup=0,
            bf16=False,
            stop_after=stop_after,
            checkpoint_every=1,
        )

    torch.manual_seed(0)
    (tmp_path / "whole").mkdir()
    fit(nn.Linear(2, 1), loss_fn, cfg(), tmp_path / "whole", {})
    torch.manual_seed(0)
    (tmp_path / "cut").mkdir()
    fit(nn.Linear(2, 1), loss_fn, cfg(stop_after=2), tmp_path / "cut", {})
    tries.clear()
    capsys.readouterr()
    fit(nn.Linear(2, 1), loss_fn, cfg(), tmp_path / "cut", {}, resume=True)
    assert tries == [3] * 8  # 2 steps x 4 micro-batches, none tried whole first
    assert "did not fit in memory" not in capsys.readouterr().out
    record = json.loads((tmp_path / "cut" / "training.json").read_text())
    assert record["accumulate"] == 4 and record["resumed_from"] == 2
    assert_same_weights(tmp_path / "cut", tmp_path / "whole", atol=1e-7)
