"""diffusion_loss: the one training loss, against a loss computed by hand on a tiny model."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from tfusion.diffusion import Objective, Schedule, diffusion_loss, drop_condition
from tfusion.training.distributed import World

T = 50
SCHEDULE = Schedule.create("linear", T)


class Tiny(nn.Module):
    """pred = x_t W + 2 t (+ the label, as a float): small enough to redo by hand."""

    def __init__(self, width: int, out: int | None = None) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(width, out or width, generator=g) * 0.3)
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        extra = 0.0 if y is None else y.float()[:, None, None]
        if y is not None:
            self.seen.append(y)
        return x @ self.w + 2 * t[:, None, None] + extra


def by_hand(model, x0, objective, seed, y=None):
    """The loss written out: step n ~ U{0..T-1}, t = (n + 1) / T, alpha^2 = alpha_bar[n]."""
    g = torch.Generator().manual_seed(seed)
    n = torch.randint(0, T, (x0.shape[0],), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    t = ((n + 1) / T).float()
    ab = SCHEDULE.alpha_bar[n]
    a, s = ab.sqrt().float()[:, None, None], (1 - ab).sqrt().float()[:, None, None]
    pred = model(a * x0 + s * eps, t, y)
    target = {"eps": eps, "v": a * eps - s * x0, "x0": x0}[objective.prediction]
    err = pred - target
    per = (err.pow(2) if objective.loss == "mse" else err.abs()).mean(dim=(1, 2))
    return per.mean(), g


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_loss_equals_the_hand_computed_loss(prediction, loss):
    model = Tiny(3)
    x0 = torch.randn(6, 5, 3, generator=torch.Generator().manual_seed(1))
    obj = Objective(prediction, loss)
    got = diffusion_loss(model, x0, SCHEDULE, obj, torch.Generator().manual_seed(7))
    want, _ = by_hand(model, x0, obj, 7)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_condition_is_passed_and_dropout_is_drawn_after_t_and_noise():
    model = Tiny(2)
    x0 = torch.randn(8, 4, 2, generator=torch.Generator().manual_seed(1))
    y = torch.arange(8) % 3
    obj = Objective("eps")
    gen = torch.Generator().manual_seed(3)
    got = diffusion_loss(model, x0, SCHEDULE, obj, gen, cond=y, cond_dropout=0.5, null_cond=9)
    # by hand: t and noise first, then one uniform per sample
    _, g = by_hand(Tiny(2), x0, obj, 3)
    drop = torch.rand(8, generator=g) < 0.5
    assert 0 < int(drop.sum()) < 8  # the seed drops some labels and keeps others
    expect_y = torch.where(drop, torch.full_like(y, 9), y)
    assert torch.equal(model.seen[-1], expect_y)
    want, _ = by_hand(model, x0, obj, 3, expect_y)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    assert torch.equal(torch.rand(4, generator=gen), torch.rand(4, generator=g))


def test_dropout_rate_zero_still_draws():
    # the DiT trainer's order: the generator advances by one uniform per sample at any rate
    x0, y = torch.randn(4, 2, 2), torch.arange(4)
    model = Tiny(2)
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    diffusion_loss(model, x0, SCHEDULE, Objective(), a, cond=y, cond_dropout=0.0, null_cond=9)
    assert torch.equal(model.seen[-1], y)
    diffusion_loss(model, x0, SCHEDULE, Objective(), b, cond=y)  # no dropout: no draw
    torch.rand(4, generator=b)
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))


def test_extra_output_channels_are_not_scored():
    # a model with a learned variance returns 2C channels along dim 1; the first C are scored
    x0 = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))

    def twice(x, t):
        return torch.cat([x * 0.5, torch.full_like(x, 1e6)], dim=1)

    def once(x, t):
        return x * 0.5

    obj = Objective("eps")
    got = diffusion_loss(twice, x0, SCHEDULE, obj, torch.Generator().manual_seed(2))
    want = diffusion_loss(once, x0, SCHEDULE, obj, torch.Generator().manual_seed(2))
    assert torch.equal(got, want)


def test_ranks_share_one_global_draw():
    # two ranks with half the batch each draw what one process draws for the whole batch:
    # the mean of their losses is the single-process loss, the labels they drop are its labels
    x0 = torch.randn(8, 4, 2, generator=torch.Generator().manual_seed(1))
    y = torch.arange(8) % 3
    obj = Objective("v")
    kw = {"cond_dropout": 0.5, "null_cond": 9}
    model = Tiny(2)
    whole = diffusion_loss(model, x0, SCHEDULE, obj, torch.Generator().manual_seed(4), cond=y, **kw)
    dropped = model.seen[-1]
    parts, seen = [], []
    for rank in range(2):
        world = World(rank, 2)
        gen = torch.Generator().manual_seed(4)
        mine = slice(4 * rank, 4 * rank + 4)
        parts.append(diffusion_loss(model, x0[mine], SCHEDULE, obj, gen, world, y[mine], **kw))
        seen.append(model.seen[-1])
    torch.testing.assert_close((parts[0] + parts[1]) / 2, whole, rtol=1e-6, atol=0)
    assert torch.equal(torch.cat(seen), dropped)


def test_drop_condition_with_a_world_draws_for_the_global_batch():
    labels = torch.arange(6)
    whole = drop_condition(labels, 99, 0.5, torch.Generator().manual_seed(0))
    ranks = [
        drop_condition(labels[3 * r : 3 * r + 3], 99, 0.5, torch.Generator().manual_seed(0), w)
        for r, w in enumerate([World(0, 2), World(1, 2)])
    ]
    assert torch.equal(torch.cat(ranks), whole)
    assert (whole == 99).any() and (whole != 99).any()
