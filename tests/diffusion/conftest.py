"""Shared helpers for the diffusion tests: the exact denoiser of a Gaussian data distribution."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from torch import Tensor

from tfusion.diffusion import Schedule, from_x0_eps
from tfusion.threads import single_thread

GaussianDenoiser = Callable[[Schedule, str, float, float], Callable[[Tensor, Tensor], Tensor]]


def gaussian_denoiser(
    schedule: Schedule, prediction: str, mu: float, s: float
) -> Callable[[Tensor, Tensor], Tensor]:
    """The Bayes-optimal network for data x0 ~ N(mu, s^2) per dimension.

    With x_t = alpha x0 + sigma eps: E[x0 | x_t] = mu + alpha s^2 / (alpha^2 s^2 + sigma^2)
    (x_t - alpha mu); the matching eps follows from x_t, and both are converted to `prediction`.
    """

    def denoise(x: Tensor, t: Tensor) -> Tensor:
        alpha, sigma = schedule.alpha_sigma(t)  # (B,) float64
        shape = (-1,) + (1,) * (x.dim() - 1)
        a, sg = alpha.view(shape), sigma.view(shape)
        xd = x.double()
        x0 = mu + a * s**2 / (a**2 * s**2 + sg**2) * (xd - a * mu)
        eps = (xd - a * x0) / sg
        return from_x0_eps(x0, eps, alpha, sigma, prediction).to(x.dtype)

    return denoise


@pytest.fixture
def make_gaussian_denoiser() -> GaussianDenoiser:
    return gaussian_denoiser


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run on one intra-op thread: the sampling loops are many small ops, where a second thread
    only adds synchronisation (and thrashes when the 2 CI cores are shared)."""
    with single_thread():
        yield
