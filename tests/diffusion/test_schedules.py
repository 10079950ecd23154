"""Noise schedules: boundary values, invariants and the continuous-time <-> step mapping."""

from __future__ import annotations

import math

import pytest
import torch

from tfusion.diffusion import Schedule
from tfusion.errors import ConfigError

NAMES = ("linear", "cosine")


def test_linear_betas_are_ddpm_at_1000_steps() -> None:
    betas = Schedule.create("linear", 1000).betas
    assert betas.shape == (1000,)
    assert betas[0].item() == pytest.approx(1e-4, rel=1e-9)
    assert betas[-1].item() == pytest.approx(0.02, rel=1e-9)
    assert torch.all(betas[1:] > betas[:-1])  # linear and increasing


@pytest.mark.parametrize(("num_steps", "first", "last"), [(250, 4e-4, 0.08), (2000, 5e-5, 0.01)])
def test_linear_betas_rescale_with_num_steps(num_steps: int, first: float, last: float) -> None:
    betas = Schedule.create("linear", num_steps).betas
    assert betas[0].item() == pytest.approx(first, rel=1e-9)
    assert betas[-1].item() == pytest.approx(last, rel=1e-9)
    # Rescaling keeps the total noise (sum of betas) the same as at T = 1000.
    assert betas.sum().item() == pytest.approx(Schedule.create("linear", 1000).betas.sum().item())


def test_cosine_alpha_bar_follows_the_formula() -> None:
    T, s = 1000, 0.008
    sched = Schedule.create("cosine", T)

    def f(t: float) -> float:
        return math.cos((t + s) / (1 + s) * math.pi / 2) ** 2

    for n in (0, 10, 500, 900):
        assert sched.alpha_bar[n].item() == pytest.approx(f((n + 1) / T) / f(0), rel=1e-9)


def test_cosine_betas_are_clipped_at_0999() -> None:
    betas = Schedule.create("cosine", 1000).betas
    assert betas.max().item() == pytest.approx(0.999, rel=1e-9)  # the last beta hits the clip
    assert betas[-1].item() == pytest.approx(0.999, rel=1e-9)
    assert torch.all(betas <= 0.999 + 1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("num_steps", [10, 20, 1000, 4000])
class TestScheduleInvariants:
    """Properties every schedule must have at any number of steps."""

    def test_alpha_bar_strictly_decreasing_in_0_1(self, name: str, num_steps: int) -> None:
        sched = Schedule.create(name, num_steps)
        ab = sched.alpha_bar
        assert ab.dtype == torch.float64 and ab.shape == (num_steps,)
        assert torch.all(torch.isfinite(ab))
        assert torch.all(ab[1:] < ab[:-1])
        assert ab[0] < 1 and ab[-1] > 0
        assert torch.all((sched.betas > 0) & (sched.betas < 1))

    def test_clean_end_and_noisy_end(self, name: str, num_steps: int) -> None:
        sched = Schedule.create(name, num_steps)
        alpha, sigma = sched.alpha_sigma(0.0)
        assert alpha.item() == 1.0 and sigma.item() == 0.0
        assert sched.alpha_bar_at(0.0).item() == 1.0
        assert sched.log_snr(0.0).item() == math.inf
        alpha1, sigma1 = sched.alpha_sigma(1.0)
        assert alpha1.item() == pytest.approx(math.sqrt(sched.alpha_bar[-1].item()))
        assert 0 < alpha1.item() < 0.1 and sigma1.item() > 0.99  # t = 1 is (almost) pure noise

    def test_variance_preserving(self, name: str, num_steps: int) -> None:
        sched = Schedule.create(name, num_steps)
        t = sched.time(torch.arange(-1, num_steps))
        alpha, sigma = sched.alpha_sigma(t)
        torch.testing.assert_close(alpha**2 + sigma**2, torch.ones_like(alpha), rtol=0, atol=1e-12)
        lam = sched.log_snr(t[1:])
        assert torch.all(torch.isfinite(lam)) and torch.all(lam[1:] < lam[:-1])

    def test_index_time_round_trip(self, name: str, num_steps: int) -> None:
        sched = Schedule.create(name, num_steps)
        n = torch.arange(-1, num_steps)
        t = sched.time(n)
        assert t[0].item() == 0.0 and t[-1].item() == 1.0
        assert torch.equal(sched.index(t), n)
        # Also through float32, the dtype the network sees.
        assert torch.equal(sched.index(t.float()), n)
        torch.testing.assert_close(sched.alpha_bar_at(t[1:]), sched.alpha_bar)

    def test_timesteps_grid(self, name: str, num_steps: int) -> None:
        sched = Schedule.create(name, num_steps)
        ks = sorted({1, 2, 3, 7, num_steps // 3, num_steps - 1, num_steps})
        for k in ks:
            grid = sched.timesteps(k)
            assert grid.shape == (k + 1,)
            assert grid[0].item() == 1.0 and grid[-1].item() == 0.0
            assert torch.all(grid[1:] < grid[:-1]), k
            # Every time is on the step grid.
            torch.testing.assert_close(sched.time(sched.index(grid)), grid, rtol=0, atol=0)
        assert torch.equal(sched.timesteps(), sched.timesteps(num_steps))
        assert torch.equal(sched.index(sched.timesteps()), torch.arange(num_steps - 1, -2, -1))

    def test_timesteps_rejects_bad_counts(self, name: str, num_steps: int) -> None:
        sched = Schedule.create(name, num_steps)
        for k in (0, -1, num_steps + 1):
            with pytest.raises(ConfigError):
                sched.timesteps(k)

    def test_sample_t_on_grid(self, name: str, num_steps: int) -> None:
        sched = Schedule.create(name, num_steps)
        g = torch.Generator().manual_seed(0)
        t = sched.sample_t(4096, g)
        assert t.dtype == torch.float32 and t.shape == (4096,)
        n = sched.index(t)
        assert n.min().item() >= 0 and n.max().item() <= num_steps - 1
        torch.testing.assert_close(sched.time(n).float(), t, rtol=0, atol=0)


def test_timesteps_all_counts_strictly_decrease() -> None:
    sched = Schedule.create("cosine", 1000)
    for k in range(1, 1001):
        grid = sched.timesteps(k)
        assert grid[0] == 1 and grid[-1] == 0 and torch.all(grid[1:] < grid[:-1]), k


def test_trailing_grid_values() -> None:
    sched = Schedule.create("linear", 1000)
    grid = sched.timesteps(4)
    assert grid.tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert sched.index(grid).tolist() == [999, 749, 499, 249, -1]


def test_unknown_schedule_and_too_few_steps_raise() -> None:
    with pytest.raises(ConfigError, match="unknown schedule"):
        Schedule.create("sigmoid", 1000)
    with pytest.raises(ConfigError):
        Schedule.create("linear", 1)


SPACINGS = ("uniform", "quadratic", "logsnr", "karras")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("spacing", SPACINGS)
def test_every_spacing_gives_a_valid_grid(name: str, spacing: str) -> None:
    for T in (10, 50, 1000):
        sched = Schedule.create(name, T)
        for k in sorted({1, 2, 3, 5, T // 2, T - 1, T}):
            grid = sched.timesteps(k, spacing)
            assert grid.shape == (k + 1,)
            assert grid[0].item() == 1.0 and grid[-1].item() == 0.0, (T, k)
            assert torch.all(grid[1:] < grid[:-1]), (T, k, grid)
            torch.testing.assert_close(sched.time(sched.index(grid)), grid, rtol=0, atol=0)
        # all T steps is every step, whatever the spacing
        assert torch.equal(sched.timesteps(T, spacing), sched.timesteps(T))


@pytest.mark.parametrize("name", NAMES)
def test_spacings_follow_their_formulas(name: str) -> None:
    T, k = 1000, 20
    sched = Schedule.create(name, T)
    n = (sched.timesteps(k, "quadratic") * T).round()[:-1]  # T .. 1, k points
    root = ((n - 1) / (T - 1)).sqrt()  # evenly spaced in sqrt(t)
    torch.testing.assert_close(
        root.diff(), torch.full((k - 1,), -1 / (k - 1)).double(), atol=3e-3, rtol=0
    )

    # interior points evenly in log-SNR; the first and last few round to coarse steps: skipped
    lam = sched.log_snr(sched.timesteps(k, "logsnr")[2:-6])
    gaps = lam.diff()
    assert gaps.min() > 0 and (gaps.max() - gaps.min()) / gaps.mean() < 0.1, gaps

    lam = sched.log_snr(sched.timesteps(k, "karras")[2:-6])
    root = torch.exp(-lam / 7)  # (sigma / alpha)^(1 / rho) is evenly spaced
    gaps = root.diff()
    assert gaps.max() < 0 and (gaps.max() - gaps.min()) / gaps.abs().mean() < 0.1, gaps


@pytest.mark.parametrize("name", NAMES)
def test_non_uniform_spacings_are_denser_near_the_data(name: str) -> None:
    sched = Schedule.create(name, 1000)
    near = {sp: int((sched.timesteps(20, sp) < 0.1).sum()) for sp in SPACINGS}
    for sp in ("quadratic", "logsnr", "karras"):
        assert near[sp] >= 2 * near["uniform"], near


def test_unknown_spacing_raises() -> None:
    with pytest.raises(ConfigError, match="spacing"):
        Schedule.create("cosine", 100).timesteps(10, "exponential")
