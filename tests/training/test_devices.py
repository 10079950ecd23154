"""Devices and precision: the decision table, runs that move between devices, GPU-only checks.

Without a GPU the CUDA branches are tested with torch.cuda's answers faked (monkeypatch), and a
GPU-saved checkpoint is faked by tagging its tensors as CUDA storages when it is written, which
is exactly what a checkpoint written on a GPU holds."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from helpers import TINY_TIMESERIES
from tfusion import devices, precision
from tfusion.cli.main import main
from tfusion.config import apply_overrides
from tfusion.errors import ConfigError
from tfusion.precision import Bf16Probe
from tfusion.timeseries.config import RunConfig
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import saved_config, train_timeseries
from tfusion.training.checkpoint import load_train_state

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TINY = [
    *TINY_TIMESERIES,
    "model.dropout=0.1",
    "train.steps=8",
    "train.checkpoint_every=4",
    "train.log_every=2",
    "train.warmup=2",
    "train.bf16=false",
]


def tiny_cfg(*extra: str) -> RunConfig:
    return apply_overrides(RunConfig(), [*TINY, *extra])


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_picks_the_cpu_without_an_accelerator(no_gpu):
    device, why = devices.resolve_device("auto")
    assert device == torch.device("cpu")
    assert "no CUDA" in why


def test_auto_picks_the_gpu_of_the_local_rank(two_gpus, monkeypatch):
    assert devices.resolve_device("auto")[0] == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert devices.resolve_device("auto")[0] == torch.device("cuda", 1)
    assert devices.resolve_device("cuda")[0] == torch.device("cuda", 1)
    assert devices.resolve_device("cuda:0")[0] == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "3")  # more processes than GPUs: they share
    assert devices.resolve_device("auto")[0] == torch.device("cuda", 1)


def test_auto_takes_mps_when_there_is_no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert devices.resolve_device("auto")[0] == torch.device("mps")


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("cuda", ["no CUDA GPU", "device=auto or cpu"]),
        ("cuda:1", ["no CUDA GPU"]),
        ("mps", ["MPS", "not available"]),
        ("tpu", ["not one of", "cuda:N"]),
    ],
)
def test_a_missing_or_unknown_device_is_one_line(no_gpu, spec, words):
    with pytest.raises(ConfigError) as e:
        devices.resolve_device(spec)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_a_gpu_index_past_the_last_is_refused(two_gpus, monkeypatch):
    with pytest.raises(ConfigError, match=r"cuda:0 \.\.\. cuda:1"):
        devices.resolve_device("cuda:2")
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun a fixed GPU would be shared by ranks
    with pytest.raises(ConfigError, match="LOCAL_RANK"):
        devices.resolve_device("cuda:0")


@pytest.mark.parametrize(
    ("native", "bf16", "expect"),
    [
        (True, "auto", "bf16"),
        (False, "auto", "fp32"),
        (True, True, "bf16"),
        (False, True, "fp32"),
        (True, False, "fp32"),
    ],
)
def test_cpu_precision_follows_the_bf16_units(monkeypatch, native, bf16, expect):
    monkeypatch.setattr(precision, "bf16_probe", lambda: Bf16Probe(100.0, 1.0, native))
    p = devices.resolve_precision(bf16, torch.device("cpu"))
    assert p.name == expect
    assert not p.scaled and not p.tf32
    if not native and bf16 is not False:
        assert "no native bf16" in p.reason
    with p.autocast():
        y = torch.ones(4, 4) @ torch.ones(4, 4)
    assert y.dtype == (torch.bfloat16 if expect == "bf16" else torch.float32)


@pytest.mark.parametrize(
    ("capability", "bf16", "expect", "scaled", "tf32"),
    [
        ((9, 0), "auto", "bf16", False, True),  # H100
        ((8, 0), True, "bf16", False, True),  # A100
        ((8, 0), False, "fp32", False, False),  # false is strict fp32: no TF32 either
        ((7, 0), "auto", "fp16", True, False),  # V100: no bf16, fp16 + scaling
        ((7, 5), False, "fp32", False, False),  # T4
    ],
)
def test_gpu_precision_table(monkeypatch, capability, bf16, expect, scaled, tf32):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Fake GPU")
    p = devices.resolve_precision(bf16, torch.device("cuda", 0))
    assert (p.name, p.scaled, p.tf32) == (expect, scaled, tf32)


def test_mps_runs_fp32_unless_asked():
    mps = torch.device("mps")
    assert devices.resolve_precision("auto", mps).name == "fp32"
    assert devices.resolve_precision(True, mps).name == "bf16"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [("train.bf16", "sometimes", "auto, true or false"), ("train.device", "gpu", "cuda:N")],
)
def test_config_refuses_bad_device_and_precision(key, value, words):
    with pytest.raises(ConfigError, match=words):
        apply_overrides(RunConfig(), [f"{key}={value}"])


def test_training_on_a_missing_gpu_is_one_line_and_writes_no_run(tmp_path, no_gpu):
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        train_timeseries(tiny_cfg("train.device=cuda"), tmp_path / "r")
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_the_cli_refuses_a_missing_gpu_for_sampling_without_writing(tmp_path, capsys, no_gpu):
    run = tmp_path / "r"
    train_timeseries(tiny_cfg("train.steps=2"), run)
    out = tmp_path / "s.csv"
    code = main(["sample", str(run), "--n", "4", "--out", str(out), "--device", "cuda"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "no CUDA GPU" in err and "\n" not in err
    assert not out.exists()
    # auto falls back to the CPU here and writes the windows
    assert main(["sample", str(run), "--n", "4", "--out", str(out)]) == 0
    assert out.exists()


def test_train_state_is_written_device_free(tmp_path):
    run = tmp_path / "r"
    train_timeseries(tiny_cfg("train.steps=2"), run)
    state = load_train_state(run / "train_state.pt")
    tensors = []

    def walk(x):
        if isinstance(x, torch.Tensor):
            tensors.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list | tuple):
            for v in x:
                walk(v)

    walk(state)
    assert len(tensors) > 4  # the Adam moments and the RNG states are there
    # every storage was saved as a CPU storage: loadable with no map_location on any machine
    raw = torch.load(run / "train_state.pt", weights_only=True)
    assert raw["step"] == 2


def _save_as_if_on_gpu(state, path):
    """torch.save `state` with every storage tagged 'cuda:0', as a GPU run writes it."""
    from torch import serialization

    def tag(storage):
        return "cuda:0" if storage.device.type == "cpu" else None

    def restore(obj, location):
        return None

    entry = (0, tag, restore)
    serialization._package_registry.append(entry)
    serialization._package_registry.sort(key=lambda e: e[0])
    try:
        torch.save(state, path)
    finally:
        serialization._package_registry.remove(entry)


def test_a_run_checkpointed_on_a_gpu_resumes_on_the_cpu_exactly(tmp_path, no_gpu):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_timeseries(tiny_cfg(), straight)
    train_timeseries(tiny_cfg("train.stop_after=4"), split)
    state = load_train_state(split / "train_state.pt")
    _save_as_if_on_gpu(state, split / "train_state.pt")
    # the fake is real: a plain load on this CUDA-less machine fails as it would for a GPU file
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(split / "train_state.pt", weights_only=True)
    train_timeseries(saved_config(split, ["train.stop_after=null"]), split, resume=True)
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(straight / name), load_file(split / name)
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    rows = [json.loads(x) for x in (split / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 8


def test_sampling_on_an_explicit_device_draws_the_same_windows(tmp_path):
    run = tmp_path / "r"
    train_timeseries(tiny_cfg("train.steps=2"), run)
    a = TimeSeriesRun.load(run).generate(6, steps=5, seed=3)
    b = TimeSeriesRun.load(run, device="cpu").generate(6, steps=5, seed=3)
    c = TimeSeriesRun.load(run, device=torch.device("cpu")).generate(6, steps=5, seed=3)
    assert a.shape == (6, 16, 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_fit_reports_device_and_precision(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "bf16_probe", lambda: Bf16Probe(100.0, 1.0, False))
    result = train_timeseries(tiny_cfg("train.steps=2", "train.bf16=auto"), tmp_path / "r")
    assert (result.device, result.precision) == ("cpu", "fp32")


@CUDA
def test_a_gpu_run_trains_samples_and_resumes_on_the_cpu(tmp_path):
    straight, split = tmp_path / "gpu", tmp_path / "gpu_then_cpu"
    # no dropout: the two runs would draw masks from the CUDA and the CPU generator
    no_drop = "model.dropout=0.0"
    result = train_timeseries(tiny_cfg("train.device=cuda", no_drop), straight)
    assert result.device.startswith("cuda")
    x = TimeSeriesRun.load(straight, device="cuda").generate(4, steps=5)
    assert x.shape == (4, 16, 2) and np.isfinite(x).all()
    train_timeseries(tiny_cfg("train.device=cuda", no_drop, "train.stop_after=4"), split)
    train_timeseries(
        saved_config(split, ["train.stop_after=null", "train.device=cpu"]), split, resume=True
    )
    a, b = load_file(straight / "model.safetensors"), load_file(split / "model.safetensors")
    for k in a:  # GPU and CPU kernels differ in rounding: close, not equal
        torch.testing.assert_close(a[k], b[k], atol=1e-3, rtol=1e-2)
