"""Condition dropout and classifier-free guidance."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from tfusion.diffusion import classifier_free_guidance, drop_condition

NULL = 10


class CountingModel:
    """A toy conditional model (x, t, label) -> prediction that counts its calls and batch sizes."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        g = torch.Generator().manual_seed(0)
        self.table = torch.randn(NULL + 1, 3, generator=g)  # one offset per label, null included

    def __call__(self, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        self.batches.append(x.shape[0])
        return torch.sin(x) * (1 + t.view(-1, 1)) + self.table[labels]


def _inputs() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 3, generator=g)
    t = torch.rand(5, generator=g)
    cond = torch.tensor([0, 3, 3, 7, 9])
    return x, t, cond, torch.full_like(cond, NULL)


def test_scale_one_is_the_conditional_model() -> None:
    model = CountingModel()
    x, t, cond, null = _inputs()
    out = classifier_free_guidance(model, cond, null, 1.0)(x, t)
    assert torch.equal(out, model(x, t, cond))
    assert model.batches[0] == 5  # no wasted unconditional half


@pytest.mark.parametrize("scale", [0.0, 1.5, 4.0, -1.0])
def test_guided_prediction_is_u_plus_s_c_minus_u(scale: float) -> None:
    model = CountingModel()
    x, t, cond, null = _inputs()
    out = classifier_free_guidance(model, cond, null, scale)(x, t)
    assert model.batches == [10]  # one batched pass
    c, u = model(x, t, cond), model(x, t, null)  # separate passes
    torch.testing.assert_close(out, u + scale * (c - u), rtol=1e-6, atol=1e-6)
    if scale == 0.0:
        torch.testing.assert_close(out, u)
    else:
        assert (out - c).abs().max().item() > 1e-3  # guidance changes the prediction


def test_drop_condition_p0_and_p1() -> None:
    labels = torch.arange(10)
    assert torch.equal(drop_condition(labels, NULL, 0.0), labels)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(drop_condition(labels, NULL, 1.0, g), torch.full_like(labels, NULL))
    assert torch.equal(labels, torch.arange(10))  # the input is not modified


def test_drop_condition_rate_and_seed() -> None:
    labels = torch.zeros(20000, dtype=torch.long)
    a = drop_condition(labels, NULL, 0.1, torch.Generator().manual_seed(0))
    b = drop_condition(labels, NULL, 0.1, torch.Generator().manual_seed(0))
    c = drop_condition(labels, NULL, 0.1, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) == {0, NULL}
    assert (a == NULL).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert a.dtype == labels.dtype and a.shape == labels.shape


def test_drop_condition_follows_the_labels_device() -> None:
    # The meta device stands in for a GPU: the mask must be moved next to the labels.
    labels = torch.zeros(8, dtype=torch.long, device="meta")
    out = drop_condition(labels, NULL, 0.5)
    assert out.device.type == "meta" and out.shape == (8,)
    out = drop_condition(labels, NULL, 0.5, torch.Generator().manual_seed(0))
    assert out.device.type == "meta"
