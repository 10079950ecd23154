"""A time budget's learning-rate schedule (no drop where warm-up ends, no jump back to the peak
on resume) and the training lock (readers leave a training run's checkpoint alone)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from helpers import TINY_TIMESERIES
from tfusion.config import apply_overrides
from tfusion.errors import CheckpointError
from tfusion.runs import open_run
from tfusion.timeseries.config import RunConfig
from tfusion.timeseries.train import saved_config, train_timeseries
from tfusion.training.checkpoint import training_lock

LR = 1e-3


@pytest.fixture
def fake_clock(monkeypatch):
    """time.perf_counter advancing 0.01 s per call: a budget runs out after a fixed amount of
    work, however busy the machine is."""
    ticks = iter(range(10**9))
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks) * 0.01)


def lrs(run: Path) -> list[tuple[int, float]]:
    rows = (run / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["lr"]) for r in map(json.loads, rows)]


def budget_cfg(*extra: str) -> RunConfig:
    return apply_overrides(
        RunConfig(),
        [
            *TINY_TIMESERIES,
            "train.steps=100000",
            "train.warmup=5",
            f"train.lr={LR}",
            "train.max_seconds=0.8",
            "train.clock=wall",
            "train.log_every=1",
            *extra,
        ],
    )


def test_the_budget_cosine_starts_at_the_peak_where_warm_up_ends(tmp_path, fake_clock):
    run = tmp_path / "r"
    train_timeseries(budget_cfg(), run)
    got = lrs(run)
    after = [lr for step, lr in got if step > 5]
    assert len(after) > 10
    assert after[0] == pytest.approx(LR)  # was ~0.7 x peak: the cosine had run on in warm-up
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(after))  # decays ...
    assert min(b / a for a, b in itertools.pairwise(after)) > 0.5  # ... without a sudden drop
    assert after[-1] < 0.2 * LR  # and reaches the floor as the budget runs out


def test_resuming_a_budget_run_continues_its_cosine(tmp_path, fake_clock):
    run = tmp_path / "r"
    train_timeseries(budget_cfg(), run)
    before = lrs(run)
    train_timeseries(saved_config(run, []), run, resume=True)  # a new budget of 0.8 s
    got = lrs(run)
    resumed = [lr for step, lr in got if step > before[-1][0]]
    assert resumed, "the resumed session trained no steps"
    assert max(resumed) <= before[-1][1] * (1 + 1e-6)  # was back at the peak: 20x


def test_readers_leave_a_training_run_alone(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_text("family: timeseries\n")
    stage = run / ".checkpoint-000000007.staging"
    with training_lock(run):
        stage.mkdir()  # the checkpoint the trainer is writing now
        assert open_run(run) == run and stage.exists()  # sampling it did not delete it
        with (
            pytest.raises(CheckpointError, match="another process is training"),
            training_lock(run),
        ):
            pass
    open_run(run)  # no trainer now: an unfinished staging folder is a crash's leftover
    assert not stage.exists()
