"""Prediction types: exact conversions, the forward process and the training loss."""

from __future__ import annotations

import itertools

import pytest
import torch

from tfusion.diffusion import Objective, Schedule, add_noise, from_x0_eps, to_x0_eps
from tfusion.errors import ConfigError

KINDS = ("eps", "v", "x0")


def _random_state(batch: int = 64, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """x0, eps (B, 5, 3) and per-sample alpha, sigma (B,) with alpha^2 + sigma^2 = 1, float64."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(batch, 5, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(batch, 5, 3, generator=g, dtype=torch.float64)
    # Keep away from the ends, where eps (alpha -> 0) or x0 (sigma -> 0) is ill-conditioned.
    angle = torch.rand(batch, generator=g, dtype=torch.float64) * 1.4 + 0.085  # (0.085, 1.485)
    return x0, eps, torch.cos(angle), torch.sin(angle)


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(KINDS, KINDS)))
def test_conversions_round_trip(src: str, dst: str) -> None:
    x0, eps, alpha, sigma = _random_state()
    x_t = add_noise(x0, eps, alpha, sigma)
    pred = from_x0_eps(x0, eps, alpha, sigma, src)
    x0_hat, eps_hat = to_x0_eps(pred, x_t, alpha, sigma, src)
    torch.testing.assert_close(x0_hat, x0, rtol=0, atol=1e-10)
    torch.testing.assert_close(eps_hat, eps, rtol=0, atol=1e-10)
    # src -> (x0, eps) -> dst equals computing dst directly.
    torch.testing.assert_close(
        from_x0_eps(x0_hat, eps_hat, alpha, sigma, dst),
        from_x0_eps(x0, eps, alpha, sigma, dst),
        rtol=0,
        atol=1e-10,
    )


def test_v_definition() -> None:
    x0, eps, alpha, sigma = _random_state()
    a, s = alpha.view(-1, 1, 1), sigma.view(-1, 1, 1)
    torch.testing.assert_close(from_x0_eps(x0, eps, alpha, sigma, "v"), a * eps - s * x0)
    assert torch.equal(from_x0_eps(x0, eps, alpha, sigma, "eps"), eps)
    assert torch.equal(from_x0_eps(x0, eps, alpha, sigma, "x0"), x0)


def test_add_noise_is_forward_process() -> None:
    x0, eps, alpha, sigma = _random_state()
    x_t = add_noise(x0, eps, alpha, sigma)
    torch.testing.assert_close(x_t, alpha.view(-1, 1, 1) * x0 + sigma.view(-1, 1, 1) * eps)
    # Scalar coefficients broadcast too, and the ends are data and noise.
    torch.testing.assert_close(add_noise(x0, eps, torch.tensor(1.0), torch.tensor(0.0)), x0)
    torch.testing.assert_close(add_noise(x0, eps, torch.tensor(0.0), torch.tensor(1.0)), eps)


def test_add_noise_with_schedule_keeps_unit_variance() -> None:
    sched = Schedule.create("cosine", 1000)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(20000, 4, generator=g)  # unit-variance data stays unit variance (VP)
    eps = torch.randn(20000, 4, generator=g)
    t = sched.sample_t(20000, g)
    alpha, sigma = (v.float() for v in sched.alpha_sigma(t))
    x_t = add_noise(x0, eps, alpha, sigma)
    assert x_t.dtype == torch.float32
    assert x_t.var().item() == pytest.approx(1.0, abs=0.03)


def test_conversion_keeps_dtype_of_input() -> None:
    x0, eps, alpha, sigma = (v.float() for v in _random_state())
    x_t = add_noise(x0, eps, alpha.double(), sigma.double())
    assert x_t.dtype == torch.float32
    out = to_x0_eps(from_x0_eps(x0, eps, alpha, sigma, "v"), x_t, alpha, sigma, "v")
    assert all(o.dtype == torch.float32 for o in out)


def test_unknown_prediction_raises() -> None:
    x0, eps, alpha, sigma = _random_state(4)
    with pytest.raises(ConfigError, match="unknown prediction"):
        to_x0_eps(x0, x0, alpha, sigma, "score")
    with pytest.raises(ConfigError, match="unknown prediction"):
        from_x0_eps(x0, eps, alpha, sigma, "epsilon")
    with pytest.raises(ConfigError, match="unknown prediction"):
        Objective(prediction="noise")
    with pytest.raises(ConfigError, match="unknown loss"):
        Objective(loss="huber")


@pytest.mark.parametrize("kind", KINDS)
def test_objective_target(kind: str) -> None:
    x0, eps, alpha, sigma = _random_state()
    target = Objective(prediction=kind).target(x0, eps, alpha, sigma)
    torch.testing.assert_close(target, from_x0_eps(x0, eps, alpha, sigma, kind))


def test_loss_mse_and_l1_values() -> None:
    pred = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    target = torch.tensor([[1.0, 0.0, 3.0, 0.0], [1.0, -1.0, 1.0, -1.0]])
    mse = Objective(loss="mse")
    l1 = Objective(loss="l1")
    torch.testing.assert_close(mse.loss_per_sample(pred, target), torch.tensor([5.0, 1.0]))
    torch.testing.assert_close(l1.loss_per_sample(pred, target), torch.tensor([1.5, 1.0]))
    assert mse(pred, target).item() == pytest.approx(3.0)
    assert l1(pred, target).item() == pytest.approx(1.25)
    assert mse(target, target).item() == 0.0


def test_loss_is_float32_and_differentiable() -> None:
    pred = torch.randn(3, 8, 2, dtype=torch.float64, requires_grad=True)
    loss = Objective()(pred, torch.zeros(3, 8, 2))
    assert loss.dtype == torch.float32 and loss.dim() == 0
    loss.backward()
    assert pred.grad is not None and torch.all(torch.isfinite(pred.grad))


def test_fourier_term() -> None:
    # A constant offset c along the sequence axis has spectrum (c, 0, ..., 0) with norm="forward".
    B, L, C, c = 2, 8, 3, 0.5
    target = torch.randn(B, L, C, generator=torch.Generator().manual_seed(0))
    pred = target + c
    plain = Objective(loss="mse")
    with_fft = Objective(loss="mse", fourier_weight=2.0)
    base = plain.loss_per_sample(pred, target)
    torch.testing.assert_close(base, torch.full((B,), c**2))
    n_freq = L // 2 + 1
    # Only the real part of each channel's DC bin differs, by c: C c^2 over n_freq * C * 2 numbers.
    spectral = C * c**2 / (n_freq * C * 2)
    torch.testing.assert_close(
        with_fft.loss_per_sample(pred, target), base + 2.0 * spectral, rtol=1e-5, atol=1e-7
    )
    assert with_fft.loss_per_sample(target, target).abs().max().item() < 1e-12
