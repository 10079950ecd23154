"""Samplers: one shared class over every sampler x schedule x prediction type, plus step identities.

The Gaussian test feeds the exact denoiser of x0 ~ N(mu, s^2) and checks the samples' moments.
Step counts are chosen so that the samplers' own discretisation bias on this narrow Gaussian
(s = 0.3 under unit noise) stays below ~3% of s; measured std / s at T = 1000 (linear, cosine):
DDPM 1000 steps 0.985, 0.992; DDIM eta 0 at 50 steps 0.91, 0.95, at 200 steps 0.977, 0.988;
DDIM eta 1 at 50 steps 0.84, 0.91, at 500 steps 0.978, 0.988; DPM-Solver++ at 20 steps
0.86, 0.97, at 50 steps 0.984, 1.000. The bias is the
method's (see test_ddim_is_euler_on_the_probability_flow_ode), not a bug.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tfusion.diffusion import (
    DDIM,
    DDPM,
    DPMSolverPP,
    Schedule,
    add_noise,
    from_x0_eps,
    make_sampler,
    sample_loop,
    to_x0_eps,
)
from tfusion.errors import ConfigError

# The `make_gaussian_denoiser` fixture (conftest.py): (schedule, prediction, mu, s) -> denoiser.
GaussianDenoiser = Callable[..., Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]

T = 1000
MU, S = 0.5, 0.3
SCHEDULES = {name: Schedule.create(name, T) for name in ("linear", "cosine")}

# (id, sampler, steps for the Gaussian-moment test)
SAMPLERS = [
    ("ddpm", DDPM(), None),
    ("ddim-eta0", DDIM(eta=0.0), 200),
    ("ddim-eta1", DDIM(eta=1.0), 500),
    ("dpm++", DPMSolverPP(), 50),
    ("dpm++-sde", DPMSolverPP(eta=1.0), 100),  # measured std / s at 100 steps: 1.017, 1.005
]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("schedule_name", list(SCHEDULES))
@pytest.mark.parametrize(
    ("sampler", "gauss_steps"), [s[1:] for s in SAMPLERS], ids=[s[0] for s in SAMPLERS]
)
class TestEverySampler:
    """Properties every sampler must have under every schedule and prediction type."""

    def test_gaussian_data_moments(
        self,
        sampler: DDPM | DDIM | DPMSolverPP,
        gauss_steps: int | None,
        schedule_name: str,
        prediction: str,
        make_gaussian_denoiser: GaussianDenoiser,
    ) -> None:
        sched = SCHEDULES[schedule_name]
        denoise = make_gaussian_denoiser(sched, prediction, MU, S)
        g = torch.Generator().manual_seed(0)
        x = sample_loop(denoise, (4000, 8), sched, prediction, sampler, gauss_steps, generator=g)
        assert x.shape == (4000, 8) and torch.all(torch.isfinite(x))
        # Sampling noise: 0.0017 on the mean, 0.4% on the std (32000 values).
        assert abs(x.mean().item() - MU) < 0.01
        assert abs(x.std().item() / S - 1) < 0.05
        # Per dimension too: no dimension collapses or blows up.
        per_dim = x.std(0) / S
        assert per_dim.min().item() > 0.9 and per_dim.max().item() < 1.1

    def test_seed_determinism(
        self,
        sampler: DDPM | DDIM | DPMSolverPP,
        gauss_steps: int | None,
        schedule_name: str,
        prediction: str,
        make_gaussian_denoiser: GaussianDenoiser,
    ) -> None:
        sched = SCHEDULES[schedule_name]
        denoise = make_gaussian_denoiser(sched, prediction, MU, S)

        def run(seed: int, x_init: torch.Tensor | None = None) -> torch.Tensor:
            g = torch.Generator().manual_seed(seed)
            return sample_loop(denoise, (16, 4), sched, prediction, sampler, 10, g, x_init)

        a, b, c = run(1), run(1), run(2)
        assert torch.equal(a, b)
        assert (a - c).abs().max().item() > 1e-3
        # From one fixed start, only a stochastic sampler depends on the generator afterwards.
        x_init = torch.randn(16, 4, generator=torch.Generator().manual_seed(3))
        d, e = run(1, x_init), run(2, x_init)
        if sampler.stochastic:
            assert (d - e).abs().max().item() > 1e-3
        else:
            assert torch.equal(d, e)

    def test_shape_and_finite(
        self,
        sampler: DDPM | DDIM | DPMSolverPP,
        gauss_steps: int | None,
        schedule_name: str,
        prediction: str,
        make_gaussian_denoiser: GaussianDenoiser,
    ) -> None:
        sched = SCHEDULES[schedule_name]
        denoise = make_gaussian_denoiser(sched, prediction, MU, S)
        for steps in (1, 2, 7):
            g = torch.Generator().manual_seed(0)
            x = sample_loop(denoise, (3, 5, 2), sched, prediction, sampler, steps, generator=g)
            assert x.shape == (3, 5, 2) and x.dtype == torch.float32
            assert torch.all(torch.isfinite(x))

    def test_clip_x0_bounds_the_output(
        self,
        sampler: DDPM | DDIM | DPMSolverPP,
        gauss_steps: int | None,
        schedule_name: str,
        prediction: str,
        make_gaussian_denoiser: GaussianDenoiser,
    ) -> None:
        # Data N(0, 2^2) clipped to [-1, 1]: the last step returns the clipped x0.
        sched = SCHEDULES[schedule_name]
        denoise = make_gaussian_denoiser(sched, prediction, 0.0, 2.0)
        g = torch.Generator().manual_seed(0)
        x = sample_loop(denoise, (256, 4), sched, prediction, sampler, 10, g, clip_x0=1.0)
        assert x.abs().max().item() <= 1.0 + 1e-5
        assert x.abs().max().item() > 0.99  # the clip is active, not trivially satisfied

    def test_follows_the_device_of_x_init(
        self,
        sampler: DDPM | DDIM | DPMSolverPP,
        gauss_steps: int | None,
        schedule_name: str,
        prediction: str,
        make_gaussian_denoiser: GaussianDenoiser,
    ) -> None:
        # The meta device stands in for a GPU: noise and times must follow x, not stay on CPU.
        seen: list[torch.device] = []

        def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            seen.append(t.device)
            return 0.1 * x

        sched = SCHEDULES[schedule_name]
        x_init = torch.empty(4, 3, device="meta")
        g = torch.Generator().manual_seed(0)
        x = sample_loop(denoise, (4, 3), sched, prediction, sampler, 5, g, x_init=x_init)
        assert x.device.type == "meta" and x.shape == (4, 3)
        assert seen and all(d.type == "meta" for d in seen)


def test_ddim_is_euler_on_the_probability_flow_ode(
    make_gaussian_denoiser: GaussianDenoiser,
) -> None:
    """DDIM (eta 0) is Euler in (x / alpha, sigma / alpha); for Gaussian data that is closed form.

    With y = x / alpha - mu and r = sigma / alpha, the exact denoiser gives eps = y r / (s^2 + r^2),
    so each step multiplies y by 1 + (r_next - r) r / (s^2 + r^2), per sample.
    """
    for name, sched in SCHEDULES.items():
        grid = sched.timesteps(20)
        alpha, sigma = sched.alpha_sigma(grid)
        r = (sigma / alpha).tolist()
        factor = 1.0
        for k in range(20):
            factor *= 1 + (r[k + 1] - r[k]) * r[k] / (S**2 + r[k] ** 2)
        x_init = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
        expected = MU + (x_init.double() / alpha[0] - MU) * factor
        denoise = make_gaussian_denoiser(sched, "v", MU, S)
        x = sample_loop(denoise, (64, 3), sched, "v", DDIM(), 20, x_init=x_init)
        torch.testing.assert_close(x.double(), expected, rtol=0, atol=1e-4, msg=name)


def _consistent_state(sched: Schedule, t: float, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """x_t and a (x0, eps) prediction consistent with it, float64."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(8, 6, generator=g, dtype=torch.float64)
    eps = torch.randn(8, 6, generator=g, dtype=torch.float64)
    alpha, sigma = sched.alpha_sigma(t)
    x = add_noise(x0, eps, alpha, sigma)
    noise = torch.randn(8, 6, generator=g, dtype=torch.float64)
    return x, x0, eps, noise


# one step from t to t_next: from pure noise, mid-schedule, a long stride, and near the data
STEP_PAIRS = [(1.0, 0.95), (0.5, 0.499), (0.3, 0.1), (0.02, 0.001)]


@pytest.mark.parametrize("schedule_name", list(SCHEDULES))
@pytest.mark.parametrize(("t", "t_next"), STEP_PAIRS)
def test_ddim_eta1_equals_ddpm(schedule_name: str, t: float, t_next: float) -> None:
    sched = SCHEDULES[schedule_name]
    x, x0, eps, noise = _consistent_state(sched, t)
    a, _ = DDPM().step(x, t, t_next, x0, eps, sched, None, noise)
    b, _ = DDIM(eta=1.0).step(x, t, t_next, x0, eps, sched, None, noise)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-9)
    c, _ = DDIM(eta=0.5).step(x, t, t_next, x0, eps, sched, None, noise)
    assert (a - c).abs().max().item() > 1e-4


@pytest.mark.parametrize("schedule_name", list(SCHEDULES))
@pytest.mark.parametrize(("t", "t_next"), [(1.0, 0.95), (0.5, 0.25), (0.02, 0.01)])
def test_dpm_first_step_equals_ddim(schedule_name: str, t: float, t_next: float) -> None:
    """DPM-Solver++ without history is first order, which is exactly deterministic DDIM."""
    sched = SCHEDULES[schedule_name]
    x, x0, eps, _ = _consistent_state(sched, t)
    a, history = DPMSolverPP().step(x, t, t_next, x0, eps, sched)
    b, _ = DDIM().step(x, t, t_next, x0, eps, sched)
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    # The history it hands back makes the next step second order (different from DDIM).
    assert history is not None and torch.equal(history[0], x0)
    x2, x02, eps2, _ = _consistent_state(sched, t_next, seed=1)
    c, _ = DPMSolverPP().step(x2, t_next, t_next / 2, x02, eps2, sched, history)
    d, _ = DDIM().step(x2, t_next, t_next / 2, x02, eps2, sched)
    assert (c - d).abs().max().item() > 1e-6


@pytest.mark.parametrize("sampler", [DDPM(), DDIM(0.0), DDIM(1.0), DPMSolverPP()])
def test_last_step_returns_x0(sampler: DDPM | DDIM | DPMSolverPP) -> None:
    sched = SCHEDULES["cosine"]
    for t in (1.0, 0.5, 0.001):
        x, x0, eps, _ = _consistent_state(sched, t)
        out, _ = sampler.step(x, t, 0.0, x0, eps, sched, None, None)
        torch.testing.assert_close(out, x0, rtol=0, atol=1e-9)


def test_dpm_step_to_a_time_that_rounds_to_clean_data() -> None:
    """t_next = 0.4 / T is not 0 but rounds to clean data on the grid: infinite log-SNR step."""
    sched = SCHEDULES["linear"]
    x, x0, eps, _ = _consistent_state(sched, 0.002)
    _, history = DPMSolverPP().step(x, 0.003, 0.002, x0, eps, sched)
    out, _ = DPMSolverPP().step(x, 0.002, 0.4 / T, x0, eps, sched, history)
    torch.testing.assert_close(out, x0, rtol=0, atol=0)


def test_stochastic_steps_need_noise() -> None:
    sched = SCHEDULES["linear"]
    x, x0, eps, _ = _consistent_state(sched, 0.5)
    with pytest.raises(ConfigError):
        DDPM().step(x, 0.5, 0.4, x0, eps, sched)
    with pytest.raises(ConfigError):
        DDIM(eta=0.5).step(x, 0.5, 0.4, x0, eps, sched)
    out, _ = DDIM(eta=0.0).step(x, 0.5, 0.4, x0, eps, sched)  # deterministic: no noise needed
    assert torch.all(torch.isfinite(out))


def test_one_sampler_serves_interleaved_batches(make_gaussian_denoiser: GaussianDenoiser) -> None:
    """Stateless: a batch gives the same result alone or inside a larger batch."""
    sched = SCHEDULES["cosine"]
    denoise = make_gaussian_denoiser(sched, "eps", MU, S)
    sampler = DPMSolverPP()
    x_init = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    whole = sample_loop(denoise, (6, 4), sched, "eps", sampler, 12, x_init=x_init)
    first = sample_loop(denoise, (3, 4), sched, "eps", sampler, 12, x_init=x_init[:3])
    second = sample_loop(denoise, (3, 4), sched, "eps", sampler, 12, x_init=x_init[3:])
    torch.testing.assert_close(torch.cat([first, second]), whole, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("sampler", [DDPM(), DPMSolverPP(eta=1.0)], ids=["ddpm", "dpm++sde"])
def test_a_generator_per_row_makes_stochastic_rows_independent_of_the_batch(
    make_gaussian_denoiser: GaussianDenoiser, sampler: DDPM | DPMSolverPP
) -> None:
    """With one generator per row, a stochastic sampler's batch equals its rows drawn alone
    (start noise and every later draw); one shared generator does not give that."""
    sched = SCHEDULES["cosine"]
    denoise = make_gaussian_denoiser(sched, "eps", MU, S)

    def gens(seeds: list[int]) -> list[torch.Generator]:
        return [torch.Generator().manual_seed(k) for k in seeds]

    whole = sample_loop(denoise, (3, 4), sched, "eps", sampler, 8, generator=gens([7, 8, 9]))
    rows = [
        sample_loop(denoise, (1, 4), sched, "eps", sampler, 8, generator=gens([k]))
        for k in (7, 8, 9)
    ]
    torch.testing.assert_close(torch.cat(rows), whole, rtol=1e-6, atol=1e-6)
    shared = sample_loop(
        denoise, (3, 4), sched, "eps", sampler, 8, generator=torch.Generator().manual_seed(7)
    )
    assert not torch.allclose(shared[1:], whole[1:])  # rows 2 and 3 differ from their own streams
    with pytest.raises(ValueError, match="2 generators for a batch of 3 rows"):
        sample_loop(denoise, (3, 4), sched, "eps", sampler, 8, generator=gens([1, 2]))


def test_x_init_is_the_start_and_is_not_modified() -> None:
    sched = SCHEDULES["linear"]
    x_init = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    before = x_init.clone()
    seen: list[torch.Tensor] = []

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen.append(x.clone())
        return torch.zeros_like(x)

    sample_loop(denoise, (5, 2), sched, "eps", DDIM(), 4, x_init=x_init)
    assert torch.equal(x_init, before)
    assert torch.equal(seen[0], before)
    assert len(seen) == 4  # one network call per step


def test_denoiser_sees_the_grid_times() -> None:
    sched = SCHEDULES["linear"]
    times: list[torch.Tensor] = []

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        times.append(t)
        return torch.zeros_like(x)

    sample_loop(denoise, (3, 2), sched, "x0", DDIM(), 4, generator=torch.Generator())
    assert [t.shape for t in times] == [(3,)] * 4
    assert [t[0].item() for t in times] == pytest.approx([1.0, 0.75, 0.5, 0.25])
    assert all(t.dtype == torch.float32 for t in times)


def test_conversion_inside_the_loop_matches_objectives() -> None:
    """The loop converts the raw prediction with to_x0_eps: an x0 net that returns the truth
    makes one DDIM step from t land exactly on add_noise(x0, eps_hat) at t_next."""
    sched = SCHEDULES["cosine"]
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    x_init = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    out = sample_loop(lambda x, t: x0, (4, 3), sched, "x0", DDIM(), 1, x_init=x_init)
    torch.testing.assert_close(out, x0)
    alpha, sigma = (v.float() for v in sched.alpha_sigma(1.0))
    v = from_x0_eps(x0, to_x0_eps(x0, x_init, alpha, sigma, "x0")[1], alpha, sigma, "v")
    out_v = sample_loop(lambda x, t: v, (4, 3), sched, "v", DDIM(), 1, x_init=x_init)
    torch.testing.assert_close(out_v, x0, rtol=1e-4, atol=1e-4)


def test_make_sampler() -> None:
    assert make_sampler("ddpm") == DDPM()
    assert make_sampler("ddim", eta=0.3) == DDIM(eta=0.3)
    assert make_sampler("dpm++") == DPMSolverPP()
    assert DDPM().stochastic and DDIM(0.5).stochastic
    assert not DDIM(0.0).stochastic and not DPMSolverPP().stochastic
    with pytest.raises(ConfigError, match="unknown sampler"):
        make_sampler("euler")


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("schedule_name", list(SCHEDULES))
def test_logsnr_spacing_lets_dpm_solver_match_gaussian_data_in_10_steps(
    schedule_name: str, make_gaussian_denoiser: GaussianDenoiser
) -> None:
    """DPM-Solver++ takes equal steps in log-SNR; on its own grid 10 steps reproduce the data's
    spread within 5% (measured 1.03, 1.03 for linear, cosine), where the even-in-time grid
    leaves it at 0.65, 0.87."""
    sched = SCHEDULES[schedule_name]
    denoise = make_gaussian_denoiser(sched, "v", MU, S)
    x_init = torch.randn(4000, 3, generator=torch.Generator().manual_seed(0))
    err = {}
    for spacing in ("uniform", "logsnr"):
        x = sample_loop(
            denoise, (4000, 3), sched, "v", DPMSolverPP(), 10, x_init=x_init, spacing=spacing
        )
        assert abs(x.mean().item() - MU) < 0.02
        err[spacing] = abs(x.std().item() / S - 1)
    assert err["logsnr"] < 0.05 and err["uniform"] > 2 * err["logsnr"], err


def test_sample_loop_visits_the_spaced_grid() -> None:
    sched = SCHEDULES["cosine"]
    seen: list[float] = []

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen.append(float(t[0]))
        return torch.zeros_like(x)

    sample_loop(denoise, (2, 3), sched, "eps", DDIM(), 8, spacing="karras")
    expected = sched.timesteps(8, "karras")[:-1].float().tolist()
    assert seen == expected
    assert seen != sched.timesteps(8)[:-1].float().tolist()
    with pytest.raises(ConfigError, match="spacing"):
        sample_loop(denoise, (2, 3), sched, "eps", DDIM(), 8, spacing="bogus")


@pytest.mark.parametrize("schedule_name", list(SCHEDULES))
@pytest.mark.parametrize(("t", "t_next"), STEP_PAIRS)
def test_first_order_dpm_solver_sde_is_the_ddpm_step(
    schedule_name: str, t: float, t_next: float
) -> None:
    """At eta = 1 the exponential-integrator step decays x by (sigma_s / sigma_t) e^{-h},
    weights x0 by alpha_s (1 - e^{-2h}) and adds noise of variance sigma_s^2 (1 - e^{-2h}):
    the coefficients of the posterior q(x_s | x_t, x0)."""
    sched = SCHEDULES[schedule_name]
    x, x0, eps, noise = _consistent_state(sched, t)
    a, _ = DDPM().step(x, t, t_next, x0, eps, sched, None, noise)
    b, hist = DPMSolverPP(eta=1.0).step(x, t, t_next, x0, eps, sched, None, noise)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-9)
    # eta = 0 is the ODE solver, and the noise is ignored there
    c, _ = DPMSolverPP(eta=0.0).step(x, t, t_next, x0, eps, sched, None, noise)
    d, _ = DPMSolverPP().step(x, t, t_next, x0, eps, sched, None, None)
    torch.testing.assert_close(c, d, rtol=0, atol=0)
    assert (a - c).abs().max().item() > 1e-4
    # the second-order correction uses the history in both variants
    e, _ = DPMSolverPP(eta=1.0).step(x, t, t_next, x0, eps, sched, (x0 * 0.5, hist[1]), noise)
    assert (e - b).abs().max().item() > 1e-6
    with pytest.raises(ConfigError, match="noise"):
        DPMSolverPP(eta=0.5).step(x, t, t_next, x0, eps, sched, None, None)


def test_make_sampler_passes_eta_to_dpm_solver() -> None:
    assert make_sampler("dpm++", 0.7) == DPMSolverPP(eta=0.7)
    assert make_sampler("dpm++").stochastic is False
    assert make_sampler("dpm++", 1.0).stochastic is True


def test_negative_eta_is_a_config_error() -> None:
    for name in ("ddim", "dpm++"):
        with pytest.raises(ConfigError, match="eta must be 0"):
            make_sampler(name, -0.5)
        with pytest.raises(ConfigError, match="eta must be 0"):
            make_sampler(name, float("nan"))
