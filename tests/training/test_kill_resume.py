"""Crash safety with a real process and a real signal: kill -9 mid-run, --resume, same weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

ARGS = [
    "model.preset=tiny",
    "model.width=64",
    "model.depth=2",
    "model.ff=128",
    "train.steps=400",
    "train.batch_size=32",
    "train.warmup=10",
    "train.progress=false",
    "train.checkpoint_every=25",
    "data.window=32",
]


def command(out, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tfusion", "train", "--out", str(out), *ARGS, *extra]


@pytest.mark.slow
def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        command(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    # wait for the second checkpoint, then kill without warning (often mid-write of the next)
    while time.monotonic() < deadline and proc.poll() is None:
        rows = (
            (killed / "metrics.jsonl").read_text().splitlines()
            if (killed / "metrics.jsonl").exists()
            else []
        )
        if len(rows) >= 2 and (killed / "train_state.pt").exists():
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    resumed = subprocess.run(command(killed, "--resume"), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    straight = tmp_path / "straight"
    done = subprocess.run(command(straight), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(killed / name), load_file(straight / name)
        assert a.keys() == b.keys()
        for k in a:
            assert np.array_equal(a[k], b[k]), (name, k)
    # no staging folder is left behind
    assert not list(killed.glob(".checkpoint-*"))
