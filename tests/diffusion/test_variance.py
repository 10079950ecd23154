"""A learned variance (Improved DDPM / DiT): the sampler's step and the hybrid loss's bound term
against hand computations in float64 from the schedule's alpha_bar table alone."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from tfusion.diffusion import Objective, Schedule, diffusion_loss, make_sampler, sample_loop
from tfusion.diffusion.loss import noised
from tfusion.diffusion.variance import (
    discretized_gaussian_log_likelihood,
    normal_kl,
    vlb_bits_per_dim,
)

T = 50


def table(schedule: Schedule) -> np.ndarray:
    return schedule.alpha_bar.numpy().astype(np.float64)


class FixedModel(torch.nn.Module):
    """A denoiser with a prediction and a variance half that depend on x and t (2C channels)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.a = torch.nn.Parameter(torch.randn(c, generator=g) * 0.5)
        self.b = torch.nn.Parameter(torch.randn(c, generator=g) * 0.5)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, b = self.a.view(1, -1, 1), self.b.view(1, -1, 1)
        tt = t.view(-1, 1, 1)
        pred = torch.tanh(a * x + tt)
        var = torch.tanh(b * x - tt)  # in (-1, 1), as a trained head stays
        return torch.cat([pred, var], dim=1)


def test_the_learned_variance_step_is_the_posterior_with_the_interpolated_log_variance():
    schedule = Schedule.create("linear", T)
    ab = table(schedule)
    model = FixedModel(2).eval()
    steps = 7  # a respaced grid: every transition spans several training steps
    grid = schedule.timesteps(steps).tolist()
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        x = sample_loop(
            model, (3, 2, 4), schedule, "eps", make_sampler("ddpm"), steps, gen, clip_x0=1.0
        )
    # by hand: the same draws (initial noise, then one per step but the last), float64
    gen = torch.Generator().manual_seed(5)
    xh = torch.randn((3, 2, 4), generator=gen).double()
    for t, s in itertools.pairwise(grid):
        n_t, n_s = round(t * T) - 1, round(s * T) - 1
        ab_t, ab_s = ab[n_t], (ab[n_s] if n_s >= 0 else 1.0)
        with torch.no_grad():
            out = model(xh.float(), torch.full((3,), t)).double()
        eps, v = out[:, :2], out[:, 2:]
        x0 = ((xh - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)).clamp(-1, 1)
        beta = 1 - ab_t / ab_s
        tilde = beta * (1 - ab_s) / (1 - ab_t)
        mean = (
            math.sqrt(ab_s) * beta / (1 - ab_t) * x0
            + math.sqrt(1 - beta) * (1 - ab_s) / (1 - ab_t) * xh
        )
        if s > 0:
            frac = (v + 1) / 2
            log_var = frac * math.log(beta) + (1 - frac) * math.log(tilde)
            xh = mean + torch.exp(0.5 * log_var) * torch.randn((3, 2, 4), generator=gen).double()
        else:
            xh = mean
    torch.testing.assert_close(x.double(), xh, atol=1e-5, rtol=1e-5)


def test_the_fixed_variance_sampler_differs_from_the_learned_one():
    schedule = Schedule.create("linear", T)
    model = FixedModel(2).eval()
    with torch.no_grad():
        learned = sample_loop(
            model,
            (3, 2, 4),
            schedule,
            "eps",
            make_sampler("ddpm"),
            7,
            torch.Generator().manual_seed(5),
        )
        fixed = sample_loop(
            lambda x, t: model(x, t)[:, :2],
            (3, 2, 4),
            schedule,
            "eps",
            make_sampler("ddpm"),
            7,
            torch.Generator().manual_seed(5),
        )
        ode = sample_loop(  # DPM-Solver++ ignores the variance half
            model,
            (3, 2, 4),
            schedule,
            "eps",
            make_sampler("dpm++"),
            7,
            torch.Generator().manual_seed(5),
        )
        ode_mean = sample_loop(
            lambda x, t: model(x, t)[:, :2],
            (3, 2, 4),
            schedule,
            "eps",
            make_sampler("dpm++"),
            7,
            torch.Generator().manual_seed(5),
        )
    assert (learned - fixed).abs().max() > 1e-3
    torch.testing.assert_close(ode, ode_mean)


def test_normal_kl_is_the_integral_of_p_log_p_over_q():
    m1, s1, m2, s2 = 0.3, 0.7, -0.2, 1.3
    grid = np.linspace(-12, 12, 200001)
    p, q = norm.pdf(grid, m1, s1), norm.pdf(grid, m2, s2)
    by_hand = np.trapezoid(p * np.log(p / q), grid)
    kl = normal_kl(
        torch.tensor(m1, dtype=torch.float64),
        torch.tensor(2 * math.log(s1), dtype=torch.float64),
        torch.tensor(m2, dtype=torch.float64),
        torch.tensor(2 * math.log(s2), dtype=torch.float64),
    )
    assert float(kl) == pytest.approx(by_hand, rel=1e-6)


@pytest.mark.parametrize("x", [-1.0, -0.5, 0.0, 3 / 255, 1.0])
def test_the_discretised_likelihood_is_the_gaussian_mass_of_the_pixel_bin(x):
    mean, std = 0.1, 0.2
    lo, hi = x - 1 / 255, x + 1 / 255
    mass = norm.cdf(hi, mean, std) - norm.cdf(lo, mean, std)
    if x == -1.0:  # the edge bins reach to infinity
        mass = norm.cdf(hi, mean, std)
    if x == 1.0:
        mass = 1 - norm.cdf(lo, mean, std)
    got = discretized_gaussian_log_likelihood(
        torch.tensor([x], dtype=torch.float64),
        torch.tensor([mean], dtype=torch.float64),
        torch.tensor([math.log(std)], dtype=torch.float64),
    )
    assert float(got) == pytest.approx(math.log(mass), rel=1e-9)


def hand_vlb(ab: np.ndarray, n: int, x0, xt, eps_hat, v) -> float:
    """The bound term at step n, bits per dimension, from alpha_bar alone (float64)."""
    ab_t = ab[n]
    ab_p = ab[n - 1] if n > 0 else 1.0
    beta = 1 - ab_t / ab_p
    betas = 1 - ab / np.concatenate([[1.0], ab[:-1]])
    tilde = betas * (1 - np.concatenate([[1.0], ab[:-1]])) / (1 - ab)
    log_tilde = math.log(tilde[n] if n > 0 else tilde[1])
    c0 = math.sqrt(ab_p) * beta / (1 - ab_t)
    ct = math.sqrt(1 - beta) * (1 - ab_p) / (1 - ab_t)
    x0_hat = (xt - math.sqrt(1 - ab_t) * eps_hat) / math.sqrt(ab_t)
    mu = c0 * x0_hat + ct * xt
    frac = (v + 1) / 2
    logvar = frac * math.log(beta) + (1 - frac) * log_tilde
    if n == 0:
        std = np.exp(0.5 * logvar)
        lo, hi = norm.cdf(x0 - 1 / 255, mu, std), norm.cdf(x0 + 1 / 255, mu, std)
        mass = np.where(x0 < -0.999, hi, np.where(x0 > 0.999, 1 - lo, hi - lo))
        return float(np.mean(-np.log(mass)) / math.log(2))
    mu_true, var_true = c0 * x0 + ct * xt, tilde[n]
    var = np.exp(logvar)
    kl = 0.5 * (np.log(var / var_true) + (var_true + (mu_true - mu) ** 2) / var - 1)
    return float(np.mean(kl) / math.log(2))


@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
def test_the_bound_term_is_the_hand_computed_kl_and_decoder_nll(schedule_name):
    schedule = Schedule.create(schedule_name, T)
    ab = table(schedule)
    rng = np.random.default_rng(0)
    ns = [0, 1, 7, 30, T - 1]
    x0 = np.clip(rng.normal(0, 0.6, (len(ns), 3, 2)), -1, 1)
    x0[0, 0, 0], x0[0, 1, 1] = -1.0, 1.0  # the edge bins at n = 0
    eps = rng.normal(size=x0.shape)
    xt = np.stack(
        [math.sqrt(ab[n]) * x0[i] + math.sqrt(1 - ab[n]) * eps[i] for i, n in enumerate(ns)]
    )
    eps_hat = eps + rng.normal(0, 0.1, x0.shape)  # an imperfect prediction
    v = rng.uniform(-1, 1, x0.shape)
    t = torch.tensor([(n + 1) / T for n in ns])
    got = vlb_bits_per_dim(
        schedule,
        "eps",
        torch.tensor(eps_hat, dtype=torch.float32),
        torch.tensor(v, dtype=torch.float32),
        torch.tensor(x0, dtype=torch.float32),
        torch.tensor(xt, dtype=torch.float32),
        t,
    )
    want = [hand_vlb(ab, n, x0[i], xt[i], eps_hat[i], v[i]) for i, n in enumerate(ns)]
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-3, atol=1e-5)


def test_the_bound_term_is_zero_where_the_model_is_exact_at_the_true_variance():
    schedule = Schedule.create("linear", T)
    x0 = torch.rand(4, 2, 3) * 2 - 1
    eps = torch.randn(4, 2, 3)
    t = torch.tensor([2, 3, 4, 5]) / T + 0.0  # early steps, where beta and beta~ differ most
    alpha, sigma = (a.float().view(-1, 1, 1) for a in schedule.alpha_sigma(t.double()))
    xt = alpha * x0 + sigma * eps
    v = -torch.ones_like(x0)  # frac 0: the posterior's own variance beta~
    bits = vlb_bits_per_dim(schedule, "eps", eps, v, x0, xt, t)
    assert bits.abs().max() < 1e-4
    assert (vlb_bits_per_dim(schedule, "eps", eps, v + 1, x0, xt, t) > 1e-3).all()


def test_the_hybrid_loss_trains_the_variance_half_from_the_bound_alone():
    """The mean half's gradient is the objective's alone (the bound sees a detached mean); the
    variance half's is the bound's; with vlb_weight 0 the variance half gets no gradient."""
    schedule, objective = Schedule.create("linear", T), Objective("eps")
    x0 = torch.rand(8, 2, 3) * 2 - 1

    def grads(weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        model = FixedModel(2)
        loss = diffusion_loss(
            model, x0, schedule, objective, torch.Generator().manual_seed(3), vlb_weight=weight
        )
        loss.backward()
        return loss.detach(), model.a.grad.clone(), model.b.grad

    plain, a0, b0 = grads(0.0)
    hybrid, a1, b1 = grads(1.0)
    torch.testing.assert_close(a0, a1)  # the mean half learns from the objective only
    assert b0 is None or b0.abs().max() == 0  # the variance half is not scored without it
    assert b1 is not None and b1.abs().max() > 0
    assert hybrid > plain  # the bound term is added (it is positive)
    # and the bound's value is the function's, on the same draws
    x_t, t, _ = noised(x0, schedule, objective, torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = FixedModel(2)(x_t, t)
    bits = vlb_bits_per_dim(schedule, "eps", out[:, :2], out[:, 2:], x0, x_t, t).mean()
    torch.testing.assert_close(hybrid - plain, bits, atol=1e-5, rtol=1e-5)


def test_a_bound_term_without_a_variance_half_is_refused():
    with pytest.raises(ValueError, match="learned variance"):
        diffusion_loss(
            lambda x, t: x,
            torch.zeros(2, 2, 3),
            Schedule.create("linear", T),
            Objective("eps"),
            vlb_weight=1.0,
        )


def test_a_trained_variance_beats_both_fixed_variances_on_the_bound():
    """Improved DDPM's point: after training on the hybrid loss, the bound with the learned
    variance is below the bound of the same means with either fixed choice (beta~: v = -1,
    beta: v = +1), and below the bound of the same network trained on the objective alone."""
    schedule, objective = Schedule.create("linear", T), Objective("eps")
    data = torch.randn(256, 2, 1) * 0.3

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(3, 64), torch.nn.SiLU(), torch.nn.Linear(64, 4)
            )

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            h = torch.cat([x.squeeze(-1), t.view(-1, 1)], dim=1)
            out = self.net(h).unsqueeze(-1)
            return torch.cat([out[:, :2], torch.tanh(out[:, 2:])], dim=1)

    def train(weight: float) -> torch.nn.Module:
        torch.manual_seed(0)
        net = Net()
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(0)
        for _ in range(400):
            loss = diffusion_loss(net, data, schedule, objective, gen, vlb_weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return net

    def bound(net: torch.nn.Module, v: float | None = None) -> float:
        gen = torch.Generator().manual_seed(99)
        total = []
        with torch.no_grad():
            for _ in range(20):
                x_t, t, _ = noised(data, schedule, objective, gen)
                out = net(x_t, t)
                var = out[:, 2:] if v is None else torch.full_like(out[:, 2:], v)
                total.append(vlb_bits_per_dim(schedule, "eps", out[:, :2], var, data, x_t, t))
        return float(torch.cat(total).mean())

    hybrid = train(1.0)
    learned = bound(hybrid)
    assert learned < bound(hybrid, -1.0) and learned < bound(hybrid, 1.0)
    assert learned < bound(train(0.0))
