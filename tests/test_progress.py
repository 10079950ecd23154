"""Progress bars in a log file: the count shown is the real one and moves every few seconds."""

from __future__ import annotations

import io
import itertools
import re
from dataclasses import replace

import pytest

from tfusion import progress as progress_module
from tfusion.progress import LOG_INTERVAL, progress

COUNT = re.compile(r"(\d+)/(\d+) \[")


class Recorder(io.StringIO):
    """A non-terminal stream that notes, with each write, the step the loop had reached."""

    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        self.lines: list[tuple[int, int, str]] = []  # (count printed, real step, text)

    def write(self, text: str) -> int:
        for m in COUNT.finditer(text):
            self.lines.append((int(m.group(1)), self.step, text))
        return super().write(text)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_log_file_sees_the_current_count_every_few_seconds(monkeypatch):
    assert 1.0 <= LOG_INTERVAL <= 10.0  # a few seconds: the count moves, the log stays short
    clock = Clock()
    monkeypatch.setattr("tqdm.std.time", clock)  # tqdm's clock: 0.1 s per fake step
    out = Recorder()
    total = 600
    bar = progress(None, file=out, total=total, desc="training")
    assert bar.mininterval == LOG_INTERVAL
    with bar:
        for step in range(total):  # the training loop's pattern: postfix at log steps
            clock.t += 0.1
            out.step = step + 1
            if out.step % 7 == 0:
                bar.set_postfix(loss=f"{1 / out.step:.4f}", refresh=False)
            bar.update(1)
    printed = [(count, real) for count, real, _ in out.lines]
    assert printed[0] == (0, 0) and printed[-1] == (total, total)
    assert all(count == real for count, real in printed), printed
    # one line per LOG_INTERVAL of (fake) time: 60 s -> about 12 lines, none more than 5 s apart
    counts = [count for count, _ in printed]
    gaps = [b - a for a, b in itertools.pairwise(counts)]
    assert max(gaps) <= LOG_INTERVAL / 0.1 + 1, gaps
    assert 60 / LOG_INTERVAL - 2 <= len(printed) <= 60 / LOG_INTERVAL + 3, counts
    assert any("loss=" in text for _, _, text in out.lines)


def test_a_terminal_redraws_often_and_a_disabled_bar_is_silent():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress(range(3), file=Tty()).mininterval == progress_module.TERMINAL_INTERVAL
    quiet = io.StringIO()
    with progress(None, enabled=False, file=quiet, total=5) as bar:
        bar.update(5)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("start", [0, 13])
def test_the_training_loop_prints_the_real_step_with_its_postfix(tmp_path, monkeypatch, start):
    """`fit` over a tiny model (resumed at `start`), every bar line captured: the count it prints
    is the number of steps run when it prints, on the lines with the loss postfix too."""
    import sys

    import torch
    from torch import nn

    from tfusion.config import TrainConfig
    from tfusion.training.loop import fit

    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 0.0)  # a line at every update
    out = Recorder()
    monkeypatch.setattr(sys, "stderr", out)
    model = nn.Linear(2, 1)
    target = torch.tensor([[1.0]])

    def loss_fn(net: nn.Module, gen: torch.Generator, world=None) -> torch.Tensor:
        out.step += 1  # the bar prints after this step's loss: the count must be this step
        x = torch.randn(4, 2, generator=gen)
        return ((net(x) - target) ** 2).mean()

    steps = 40
    cfg = TrainConfig(steps=steps, log_every=3, checkpoint_every=1000, warmup=0, progress=True)
    if start:  # a first part that stops at `start`; the run below resumes it
        fit(model, loss_fn, replace(cfg, stop_after=start), tmp_path, {})
        assert out.step == start
        out.lines.clear()
    fit(model, loss_fn, cfg, tmp_path, {}, resume=bool(start))
    assert out.step == steps
    printed = [(count, real) for count, real, _ in out.lines]
    assert printed[0] == (start, start) and printed[-1] == (steps, steps)
    assert all(count == real for count, real in printed), printed
    assert {count for count, _ in printed} == set(range(start, steps + 1))
    with_postfix = {count for count, _, text in out.lines if "loss=" in text}
    assert {c for c in range(start + 1, steps + 1) if c % 3 == 0} <= with_postfix
