"""bf16 only where the CPU computes it faster than fp32 (tfusion.precision)."""

import math

import pytest
import torch
from safetensors.torch import load_file

import tfusion.precision as precision
from helpers import TINY_TIMESERIES
from tfusion.config import apply_overrides
from tfusion.precision import Bf16Probe, bf16_probe, native_bf16_flags, use_bf16
from tfusion.timeseries.config import RunConfig
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import train_timeseries

SLOW = Bf16Probe(fp32_gflops=120.0, bf16_gflops=0.8)  # an AVX2-only CPU, as measured
FAST = Bf16Probe(fp32_gflops=200.0, bf16_gflops=800.0)  # AMX

TINY = [*TINY_TIMESERIES, "train.steps=4", "train.warmup=1"]


@pytest.fixture
def probe(monkeypatch):
    """Set what the probe 'measures'; clears the once-per-process notice memory."""
    monkeypatch.setattr(precision, "_warned", set())

    def set_to(value: Bf16Probe) -> None:
        monkeypatch.setattr(precision, "bf16_probe", lambda: value)

    return set_to


def test_probe_threshold_and_flags_decide():
    assert FAST.fast and not SLOW.fast
    assert not Bf16Probe(100.0, 100.0).fast  # no gain is no reason to lose precision
    # the flags win over a timing disturbed by other work on the machine
    assert not Bf16Probe(1.0, 2.9, native=False).fast
    assert Bf16Probe(200.0, 50.0, native=True).fast


def test_flags_from_cpuinfo():
    amx = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    avx2 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx avx2 fma\n"
    arm = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"
    neoverse_n1 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull\n"
    assert native_bf16_flags(amx) is True and native_bf16_flags(arm) is True
    assert native_bf16_flags(avx2) is False and native_bf16_flags(neoverse_n1) is False
    assert native_bf16_flags("") is None  # no flags line: the timing decides


def test_real_probe_measures_two_positive_rates():
    p = bf16_probe()
    assert math.isfinite(p.fp32_gflops) and p.fp32_gflops > 0
    assert math.isfinite(p.bf16_gflops) and p.bf16_gflops > 0
    assert bf16_probe() is p  # measured once per process


def test_not_requested_never_probes(monkeypatch):
    def boom():
        raise AssertionError("probed although bf16 was not asked for")

    monkeypatch.setattr(precision, "bf16_probe", boom)
    assert use_bf16(False) is False


def test_slow_cpu_falls_back_to_fp32_with_one_notice(probe, capsys):
    probe(SLOW)
    assert use_bf16(True, "training") is False
    assert use_bf16(True, "training") is False
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1  # once per kind of work, not once per call
    assert "0.8 GFLOP/s in bf16 vs 120 in fp32" in out[0] and "training runs in fp32" in out[0]
    assert "no native bf16 matmul" in out[0]
    assert use_bf16(True, "sampling", quiet=True) is False
    assert capsys.readouterr().out == ""


def test_fast_cpu_uses_bf16_silently(probe, capsys):
    probe(FAST)
    assert use_bf16(True, "training") is True
    assert capsys.readouterr().out == ""


def _train(path, bf16: bool) -> dict[str, torch.Tensor]:
    cfg = apply_overrides(RunConfig(), [*TINY, f"train.bf16={str(bf16).lower()}"])
    train_timeseries(cfg, path)
    return load_file(path / "model.safetensors")


def test_training_on_a_slow_cpu_is_exactly_the_fp32_run(probe, tmp_path, capsys):
    fp32 = _train(tmp_path / "fp32", bf16=False)
    probe(SLOW)
    fallback = _train(tmp_path / "fallback", bf16=True)
    assert all(torch.equal(fp32[k], fallback[k]) for k in fp32)
    assert "training runs in fp32" in capsys.readouterr().out
    probe(FAST)  # the same request on a bf16 CPU really autocasts: the weights differ
    autocast = _train(tmp_path / "bf16", bf16=True)
    assert any(not torch.equal(fp32[k], autocast[k]) for k in fp32)


def test_sampling_on_a_slow_cpu_is_exactly_fp32(probe, tmp_path):
    cfg = apply_overrides(RunConfig(), TINY)
    train_timeseries(cfg, tmp_path / "r")
    run = TimeSeriesRun.load(tmp_path / "r")
    plain = run.generate(3, "dpm++", 4, seed=1)
    probe(SLOW)
    assert (run.generate(3, "dpm++", 4, seed=1, bf16=True) == plain).all()
    probe(FAST)
    assert not (run.generate(3, "dpm++", 4, seed=1, bf16=True) == plain).all()


def test_the_probe_leaves_the_global_generator_alone():
    # it runs inside training (train.bf16=auto): drawing from the global generator there once
    # shifted the dropout masks of the first run of every process
    torch.manual_seed(0)
    before = torch.get_rng_state()
    precision._rate(torch.float32, 16, reps=1)
    assert torch.equal(torch.get_rng_state(), before)
