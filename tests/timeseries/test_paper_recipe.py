"""The published TransFusion recipe as configs: every published value, the data protocol per
data set, epochs resolved to steps, EMA off and the wall-clock budget recorded in the run."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from helpers import TINY_TIMESERIES
from tfusion.config import apply_overrides, load_config
from tfusion.data.builtin import sine_windows
from tfusion.info import describe_run
from tfusion.timeseries.config import RunConfig
from tfusion.timeseries.data import prepare
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import train_timeseries

ROOT = Path(__file__).parents[2]
PAPER = {
    "stocks": ROOT / "configs" / "transfusion-paper.yaml",
    "air": ROOT / "configs" / "transfusion-paper-air.yaml",
    "sines": ROOT / "configs" / "transfusion-paper-sines.yaml",
}


def paper(name: str) -> RunConfig:
    return load_config(PAPER[name], (), RunConfig)


def shared_file(name: str) -> str:
    """A file of ../shared/data (or $TFUSION_DATA); skips the test when it is absent."""
    folder = Path(os.environ.get("TFUSION_DATA") or ROOT / ".." / "shared" / "data")
    if not (folder / name).is_file():
        pytest.skip(f"{folder / name} not found")
    return str(folder / name)


@pytest.mark.parametrize("name", list(PAPER))
def test_paper_configs_hold_the_published_values(name):
    cfg = paper(name)
    t = cfg.train  # train.py: 5000 epochs of batch 256, Adam(1e-4, (0.9, 0.99)), nothing else
    assert (t.epochs, t.batch_size, t.lr, t.betas) == (5000, 256, 1e-4, (0.9, 0.99))
    assert (t.weight_decay, t.warmup, t.min_lr_ratio, t.grad_clip, t.ema_decay) == (0, 0, 1, 0, 0)
    assert t.bf16 is False and t.max_seconds is None  # the budget is a command-line cap
    d = cfg.diffusion
    assert (d.schedule, d.steps, d.prediction, d.loss) == ("cosine", 1000, "v", "mse")
    assert cfg.model.preset == "transfusion-paper"
    s = cfg.sample
    assert (s.sampler, s.steps, s.clip) == ("ddpm", 1000, 1.0)
    data = cfg.data  # stride-1 windows, train_test_split(train_size=0.8, random_state=2021)
    assert (data.stride, data.split, data.test_fraction, data.seed) == (1, "random", 0.2, 2021)
    assert data.window == 100  # --seq_len (train.py:276)
    if name == "sines":  # Sine_Pytorch(5000, seq_len, 5), not reversed, fed as they are
        assert (data.source, data.sine_samples, data.sine_features) == ("sine", 5000, 5)
        assert (data.reverse, data.scaler) == (False, "unit")
    else:  # MakeDATA: reversed, min-max over the series
        assert (data.reverse, data.scaler) == (True, "minmax")
        assert data.missing_values == ()  # air: the -200 sentinel stays a number
    if name == "air":  # data.iloc[:-114, 2:15]: the 13 columns after Date and Time
        assert data.columns is not None and len(data.columns) == 13
        assert (data.columns[0], data.columns[-1]) == ("CO(GT)", "AH")


def test_paper_sines_are_fed_as_they_are_and_split_80_20():
    cfg = replace(paper("sines").data, window=24, sine_samples=50)
    data = prepare(cfg)
    raw = sine_windows(50, 24, 5, cfg.seed)  # in time order: not reversed
    assert (len(data.train), len(data.test)) == (40, 10)
    idx = data.train.starts
    # 2x - 1 of the generated values; at L = 24 they lie in about [0.5, 1], which a fitted
    # min-max would have stretched to [-1, 1]
    np.testing.assert_allclose(data.train.batch(np.arange(40)), 2 * raw[idx] - 1, atol=1e-6)
    assert data.train.batch(np.arange(40)).min() > -0.1
    np.testing.assert_allclose(data.inverse(2 * raw[idx] - 1), raw[idx], atol=1e-12)


def test_paper_air_keeps_the_sentinel_and_stocks_are_reversed():
    air = prepare(replace(paper("air").data, source=shared_file("AirQualityUCI.csv"), window=100))
    assert len(air.columns) == 13
    assert air.scaler.offset.min() == -200  # -200 is the smallest value: it was kept
    assert len(air.train) + len(air.test) == 9357 - 100 + 1  # stride 1, no window left out
    path = shared_file("stock_data.csv")
    stocks = prepare(replace(paper("stocks").data, source=path, window=100, split="none"))
    first = np.genfromtxt(path, delimiter=",", skip_header=1)[-100:][::-1]  # newest day first
    np.testing.assert_allclose(
        stocks.inverse(stocks.train.batch(np.array([0])))[0], first, rtol=1e-5
    )


def tiny(*extra: str) -> RunConfig:
    return apply_overrides(RunConfig(), [*TINY_TIMESERIES, "train.bf16=false", *extra])


def test_epochs_become_steps_in_the_run_and_ema_off_samples_from_raw_weights(tmp_path):
    run = tmp_path / "run"
    # 64 windows, 13 held out: 51 training windows in batches of 8 -> 7 steps an epoch
    result = train_timeseries(tiny("train.epochs=2", "train.ema_decay=0", "train.warmup=0"), run)
    assert result.steps == 14 and result.stopped_by == "steps"
    saved = yaml.safe_load((run / "config.yaml").read_text())["train"]
    assert (saved["epochs"], saved["steps"]) == (2, 14)
    record = json.loads((run / "training.json").read_text())
    assert (record["steps_planned"], record["steps_done"], record["epochs"]) == (14, 14, 2)
    raw, ema = load_file(run / "model.safetensors"), load_file(run / "ema.safetensors")
    assert all(torch.equal(raw[k], ema[k]) for k in raw)
    loaded = TimeSeriesRun.load(run)  # sampling loads the "EMA" weights: the raw ones
    assert all(torch.equal(v, raw[k]) for k, v in loaded.model.state_dict().items())
    # with averaging on, the two differ: the comparison above can fail
    train_timeseries(tiny("train.steps=3"), tmp_path / "averaged")
    raw, ema = (
        load_file(tmp_path / "averaged" / f) for f in ("model.safetensors", "ema.safetensors")
    )
    assert not all(torch.equal(raw[k], ema[k]) for k in raw)


def test_a_budget_cap_stops_the_run_and_is_recorded(tmp_path):
    run = tmp_path / "run"
    result = train_timeseries(tiny("train.epochs=100000", "train.max_seconds=1.0"), run)
    record = json.loads((run / "training.json").read_text())
    assert record["max_seconds"] == 1.0 and record["stopped_by"] == "max_seconds"
    assert record["steps_planned"] == 100000 * 7
    assert 0 < record["steps_done"] == result.steps < record["steps_planned"]
    assert record["seconds"] >= 1.0
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == record["steps_done"]  # the last step is logged and saved
    state = torch.load(run / "train_state.pt", weights_only=True)
    assert state["step"] == record["steps_done"]
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["max_seconds"] == 1.0
    assert "stopped by its time budget, train.max_seconds=1" in describe_run(run)


def test_a_process_clock_budget_counts_cpu_seconds_not_the_wall(tmp_path, monkeypatch):
    """train.clock=process charges the budget on the process's CPU clock: a fake CPU clock
    that advances 10 s per reading stops a 25 s budget within a few steps, while the same
    budget on the wall clock (which barely moves) lets the run go on to its step count."""
    import tfusion.training.loop as loop

    ticks = iter(range(0, 10**6, 10))
    monkeypatch.setattr(loop.time, "process_time", lambda: float(next(ticks)))
    cpu = tmp_path / "cpu"
    train_timeseries(tiny("train.steps=40", "train.max_seconds=25", "train.clock=process"), cpu)
    record = json.loads((cpu / "training.json").read_text())
    assert record["clock"] == "process" and record["stopped_by"] == "max_seconds"
    assert record["steps_done"] <= 3
    assert record["cpu_seconds"] >= 25  # the fake CPU seconds, recorded beside the wall's
    wall = tmp_path / "wall"
    train_timeseries(tiny("train.steps=40", "train.max_seconds=25"), wall)
    record = json.loads((wall / "training.json").read_text())
    assert record["clock"] == "wall" and record["stopped_by"] == "steps"
    assert record["steps_done"] == 40


def test_an_unknown_budget_clock_is_named(tmp_path):
    with pytest.raises(Exception, match=r"train\.clock"):
        tiny("train.clock=cpu")


def test_the_paper_model_series_resumes_a_job_at_its_drawn_windows(tmp_path):
    """benchmarks/paper_model.py passes --reuse, and quality_timeseries reuses the windows an
    earlier call drew only when they were drawn the same way."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import paper_model
    import quality_timeseries as q

    args = paper_model.build_parser().parse_args(["--data", "stocks", "--length", "384"])
    arms = [cmd for path, cmd in paper_model.jobs(args) if "floor" not in path.stem]
    assert arms and all("--reuse" in cmd for cmd in arms)

    draw = {"sampling": "dpm 50 karras eta 1.0", "n": 3, "seed": 0, "scaled": True, "bf16": False}
    assert q.reused_samples(tmp_path, draw) is None  # nothing drawn yet
    np.save(tmp_path / "synthetic.npy", np.ones((3, 4, 2)))
    assert q.reused_samples(tmp_path, draw) is None  # drawn, but how is not recorded
    (tmp_path / "samples.json").write_text(json.dumps({**draw, "seconds": 12.5}))
    windows, seconds = q.reused_samples(tmp_path, draw)
    assert windows.shape == (3, 4, 2) and seconds == 12.5
    for changed in ({"seed": 1}, {"n": 4}, {"sampling": "ddpm 1000 uniform eta 1.0"}):
        assert q.reused_samples(tmp_path, {**draw, **changed}) is None, changed
