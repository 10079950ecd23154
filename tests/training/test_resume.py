"""Training: exact resume, checkpoint safety, NaN handling, LR schedule."""

import json

import pytest
import torch
from safetensors.torch import load_file

from helpers import TINY_TIMESERIES
from tfusion.config import apply_overrides
from tfusion.errors import ConfigError, TrainingError
from tfusion.timeseries.config import RunConfig
from tfusion.timeseries.train import saved_config, train_timeseries
from tfusion.training.checkpoint import recover, save_checkpoint
from tfusion.training.optim import lr_factor

TINY = [
    *TINY_TIMESERIES,
    "model.dropout=0.1",  # dropout on, so the torch RNG state matters for exact resume
    "train.steps=8",
    "train.checkpoint_every=4",
    "train.log_every=2",
    "train.warmup=2",
]


def tiny_cfg(*extra: str) -> RunConfig:
    return apply_overrides(RunConfig(), [*TINY, *extra])


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_timeseries(tiny_cfg(), straight)
    train_timeseries(tiny_cfg("train.stop_after=3"), split)  # stops between checkpoints
    state = torch.load(split / "train_state.pt", weights_only=True)
    assert state["step"] == 3
    train_timeseries(saved_config(split, ["train.stop_after=null"]), split, resume=True)
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(straight / name), load_file(split / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    rows = [json.loads(x) for x in (split / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 3, 4, 6, 8]  # stop_after logs its last step too
    assert (split / "loss.png").stat().st_size > 0


def test_refuses_to_overwrite_a_run_and_resume_needs_a_run(tmp_path):
    run = tmp_path / "r"
    train_timeseries(tiny_cfg("train.steps=2"), run)
    before = (run / "model.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        train_timeseries(tiny_cfg("train.steps=2"), run)
    assert (run / "model.safetensors").read_bytes() == before
    with pytest.raises(ConfigError, match="not a tfusion run folder"):
        train_timeseries(tiny_cfg(), tmp_path / "empty", resume=True)
    with pytest.raises(ConfigError, match="model section differs"):
        train_timeseries(saved_config(run, ["model.depth=2"]), run, resume=True)


def test_nan_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path):
    run = tmp_path / "r"
    train_timeseries(tiny_cfg("train.steps=4"), run)
    good = load_file(run / "model.safetensors")
    cfg = saved_config(run, ["train.steps=12", "train.lr=1e30", "train.grad_clip=0"])
    with pytest.raises(TrainingError, match=r"at step \d+") as e:
        train_timeseries(cfg, run, resume=True)
    assert "checkpoint" in str(e.value) and "\n" not in str(e.value)
    kept = load_file(run / "model.safetensors")
    # checkpoints come every 4 steps: what is on disk is a finite, complete checkpoint
    assert all(torch.isfinite(v).all() for v in kept.values())
    assert kept.keys() == good.keys()


def test_interrupted_checkpoint_is_rolled_forward_or_dropped(tmp_path):
    run = tmp_path / "r"
    train_timeseries(tiny_cfg("train.steps=2"), run)
    old = load_file(run / "model.safetensors")
    # a staging folder without the COMPLETE mark (killed while writing) is discarded
    stage = run / ".checkpoint-000000009.staging"
    stage.mkdir()
    (stage / "model.safetensors").write_bytes(b"garbage")
    recover(run)
    assert not stage.exists()
    now = load_file(run / "model.safetensors")
    assert torch.equal(now["in_proj.weight"], old["in_proj.weight"])
    # a complete staging folder (killed while moving files) is finished
    model = torch.nn.Linear(2, 2)
    state = {"step": 5, "optimizer": {}, "generator": torch.Generator().get_state()}
    save_checkpoint(run, model, model, state, {})
    assert load_file(run / "model.safetensors").keys() == {"weight", "bias"}


def test_lr_schedule_warmup_then_cosine():
    assert lr_factor(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, 0.1) == pytest.approx(0.55)
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)


@pytest.mark.slow
def test_compiled_training_matches_eager_and_saves_plain_weights(tmp_path, monkeypatch):
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    wrapped = []
    real_compile = torch.compile

    def spy(module, *args, **kwargs):
        wrapped.append(type(module).__name__)
        return real_compile(module, *args, **kwargs)

    monkeypatch.setattr(torch, "compile", spy)
    # compiled dropout draws other masks; fp32, where compiled and eager kernels agree to 1e-5
    no_dropout = ("model.dropout=0.0", "train.steps=4", "train.bf16=false")
    train_timeseries(tiny_cfg(*no_dropout), eager)
    assert wrapped == []
    train_timeseries(tiny_cfg(*no_dropout, "train.compile=true"), compiled)
    assert wrapped == ["TimeSeriesDenoiser"]
    a, b = load_file(eager / "model.safetensors"), load_file(compiled / "model.safetensors")
    assert a.keys() == b.keys()  # no `_orig_mod.` prefixes from the compile wrapper
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    la, lb = (
        [json.loads(x)["loss"] for x in (p / "metrics.jsonl").read_text().splitlines()]
        for p in (eager, compiled)
    )
    assert la == pytest.approx(lb, rel=1e-4)
