"""Data parallelism: 2 torchrun processes with batch B reach the weights of 1 process with 2B,
with DDP and with FSDP, for the time-series, DiT and Transfusion trainers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from helpers import assert_same_weights, two_class_images

ARGS = [
    "model.preset=tiny",
    "model.width=32",
    "model.depth=2",
    "model.ff=64",
    "model.dropout=0",  # dropout masks are per rank: the one thing that differs by design
    "train.steps=6",
    "train.warmup=2",
    "train.progress=false",
    "train.checkpoint_every=3",
    "train.bf16=false",  # equality to 1e-6 is an fp32 property (bf16 rounds at 1e-3)
    "data.window=8",
]


def train(out, batch: int, processes: int, args=ARGS, resume: bool = False) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m"]
    if processes > 1:
        cmd += ["torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m"]
    cmd += ["tfusion", "train", "--out", str(out), *(["--resume"] if resume else [])]
    cmd += [*args, f"train.batch_size={batch}"]
    attempts = 1 if resume else 2
    for _ in range(attempts):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        if done.returncode == 0:
            return
        # a launcher failure (rendezvous port taken on a busy machine) gets one clean retry;
        # the run folder is removed first so the retry starts from scratch
        shutil.rmtree(out, ignore_errors=True)
    raise AssertionError(f"torchrun failed ({attempts} attempt(s)):\n{done.stderr[-3000:]}")


@pytest.mark.slow
def test_two_processes_equal_one_process_with_the_doubled_batch(tmp_path):
    train(tmp_path / "ddp", batch=4, processes=2)
    train(tmp_path / "one", batch=8, processes=1)
    for name in ("model.safetensors", "ema.safetensors"):
        ddp, one = load_file(tmp_path / "ddp" / name), load_file(tmp_path / "one" / name)
        assert ddp.keys() == one.keys()
        for k in one:
            np.testing.assert_allclose(ddp[k], one[k], rtol=1e-4, atol=1e-6, err_msg=k)
    # the runs really trained: weights moved away from a fresh model's
    assert any(np.abs(one[k]).sum() > 0 for k in one if "adaLN" in k)
    # rank 0 alone wrote the metrics: one row per logged step, not two
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len((tmp_path / "one" / "metrics.jsonl").read_text().splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_with_micro_batches_equal_one_process(tmp_path, parallel):
    # each rank cuts its 4 windows into 2 micro-batches (DDP syncs on the second only; FSDP
    # reduce-scatters each, keeping gradients sharded)
    args = [*ARGS, "train.accumulate=2", f"train.parallel={parallel}"]
    train(tmp_path / "two", batch=4, processes=2, args=args)
    train(tmp_path / "one", batch=8, processes=1)
    assert_same_weights(tmp_path / "two", tmp_path / "one")


@pytest.mark.slow
def test_fsdp_with_a_resume_equals_one_process_with_the_doubled_batch(tmp_path):
    # sharded run stopped at step 3 and resumed: the optimizer moments are saved whole and
    # re-sharded on load, so the result is the uninterrupted single-process run's
    fsdp = [*ARGS, "train.parallel=fsdp"]
    train(tmp_path / "fsdp", batch=4, processes=2, args=[*fsdp, "train.stop_after=3"])
    state = load_file(tmp_path / "fsdp" / "model.safetensors")
    train(tmp_path / "fsdp", batch=4, processes=2, args=["train.stop_after=null"], resume=True)
    train(tmp_path / "one", batch=8, processes=1)
    assert_same_weights(tmp_path / "fsdp", tmp_path / "one")
    # the checkpoint holds whole tensors (not one rank's shard) ...
    one = load_file(tmp_path / "one" / "model.safetensors")
    assert all(state[k].shape == one[k].shape for k in one)
    # ... and the resume really continued from step 3 (weights moved on)
    assert any(not np.array_equal(state[k], one[k]) for k in one)


MULTIMODAL = """family: multimodal
data: {source: shapes, size: 16, samples: 200}
model: {width: 32, depth: 2, heads: 2, patch: 4}
train: {steps: 4, warmup: 1, progress: false, checkpoint_every: 2, log_every: 1, bf16: false}
"""


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_transfusion_two_processes_equal_one_process(tmp_path, parallel):
    # each rank lays out the whole global batch (mixed text/image sequences of different
    # lengths, caption dropout, per-image times) and keeps its rows; the LM and diffusion means
    # use global counts, so the split does not change the gradient
    cfg = tmp_path / "mm.yaml"
    cfg.write_text(MULTIMODAL)
    args = ["--config", str(cfg), f"train.parallel={parallel}"]
    train(tmp_path / "two", batch=4, processes=2, args=args)
    train(tmp_path / "one", batch=8, processes=1, args=args)
    assert_same_weights(tmp_path / "two", tmp_path / "one")
    two = [json.loads(r)["loss"] for r in (tmp_path / "two" / "metrics.jsonl").open()]
    one = [json.loads(r)["loss"] for r in (tmp_path / "one" / "metrics.jsonl").open()]
    np.testing.assert_allclose(two, one, rtol=1e-5)
    assert len(one) == 4 and one[-1] < one[0]


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["data.clean_images=1", "model.encoder=unet"])
def test_transfusion_ddp_trains_when_a_step_leaves_parameters_out(tmp_path, setting):
    # every image fed clean: no step has a diffusion loss, so the patch head gets no gradient;
    # the U-Net encoder: the linear patch layers never take part. DDP waited for their
    # gradients and stopped at step 2; now both train like one process
    cfg = tmp_path / "mm.yaml"
    cfg.write_text(MULTIMODAL)
    args = ["--config", str(cfg), setting]
    train(tmp_path / "two", batch=4, processes=2, args=args)
    train(tmp_path / "one", batch=8, processes=1, args=args)
    assert_same_weights(tmp_path / "two", tmp_path / "one")
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4


@pytest.mark.slow
def test_dit_fsdp_equals_one_process(tmp_path):
    two_class_images(tmp_path / "two.npz")
    cfg = tmp_path / "dit.yaml"
    cfg.write_text(
        "family: dit\n"
        f"data: {{source: {tmp_path / 'two.npz'}, test_fraction: 0.25}}\n"
        "model: {preset: DiT-Mini/2, depth: 2, width: 32, heads: 2, patch: 4}\n"
        "train: {steps: 4, warmup: 1, progress: false, checkpoint_every: 2, ema_decay: 0.9,\n"
        "        bf16: false}\n"
    )
    args = ["--config", str(cfg), "train.parallel=fsdp"]
    train(tmp_path / "two", batch=4, processes=2, args=args)
    train(tmp_path / "one", batch=8, processes=1, args=args)
    assert_same_weights(tmp_path / "two", tmp_path / "one")
