"""Conditioning by replacement (inpainting) against an exact conditional Gaussian."""

from __future__ import annotations

import pytest
import torch

from tfusion.diffusion import Schedule, from_x0_eps, make_sampler, sample_loop
from tfusion.errors import ConfigError

RHO = 0.9


def correlated_denoiser(schedule: Schedule):
    """Bayes-optimal eps for x0 ~ N(0, S), S = [[1, rho], [rho, 1]].

    E[x0 | x_t] = a S (a^2 S + s^2 I)^-1 x_t.
    """
    cov = torch.tensor([[1.0, RHO], [RHO, 1.0]], dtype=torch.float64)
    eye = torch.eye(2, dtype=torch.float64)

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = schedule.alpha_sigma(t)
        a3, s3 = a.view(-1, 1, 1), s.view(-1, 1, 1)
        gain = a3 * cov @ torch.linalg.inv(a3**2 * cov + s3**2 * eye)  # (B, 2, 2)
        xd = x.double()
        x0 = (gain @ xd.transpose(1, 2)).transpose(1, 2)
        eps = (xd - a3 * x0) / s3
        return from_x0_eps(x0, eps, a, s, "eps").float()

    return denoise


def impute(sampler: str, steps: int, resample: int, n: int = 3000, value: float = 1.5):
    schedule = Schedule.create("cosine", 1000)
    mask = torch.zeros(n, 1, 2, dtype=torch.bool)
    mask[..., 0] = True
    values = torch.zeros(n, 1, 2)
    values[..., 0] = value
    return sample_loop(
        correlated_denoiser(schedule),
        (n, 1, 2),
        schedule,
        "eps",
        make_sampler(sampler),
        steps,
        torch.Generator().manual_seed(0),
        known=(mask, values),
        resample=resample,
    )


def test_known_entries_are_returned_exactly(one_thread):
    x = impute("dpm++", 10, 1, n=50)
    assert torch.all(x[..., 0] == 1.5)


def test_resampling_reaches_the_exact_conditional(one_thread):
    # x1 | x0 = 1.5 ~ N(rho * 1.5, 1 - rho^2) = N(1.35, 0.436^2)
    x = impute("ddpm", 100, 5)[..., 1]
    assert float(x.mean()) == pytest.approx(RHO * 1.5, abs=0.12)
    assert float(x.std()) == pytest.approx((1 - RHO**2) ** 0.5, rel=0.2)


def test_plain_replacement_is_biased_and_resampling_fixes_it(one_thread):
    # documents why resampling exists: without it the imputed mean falls well short
    plain = float(impute("ddpm", 100, 1)[..., 1].mean())
    fixed = float(impute("ddpm", 100, 5)[..., 1].mean())
    assert plain < 0.8 * RHO * 1.5 < fixed


def test_resampling_needs_a_stochastic_sampler():
    with pytest.raises(ConfigError, match="ddpm"):
        impute("ddim", 10, 3, n=4)


def test_a_repeated_step_keeps_the_solver_memory_of_the_previous_grid_step(monkeypatch):
    # RePaint repeats a step r times; DPM-Solver++(2M)'s second-order term must look back to
    # the previous grid step each time, not to the repeat before (h_prev = h of a step that
    # never happened)
    from tfusion.diffusion.samplers import DPMSolverPP

    seen = []
    step = DPMSolverPP.step

    def spy(self, x, t, t_next, x0, eps, schedule, history, noise, **kw):
        seen.append((t, history))
        return step(self, x, t, t_next, x0, eps, schedule, history, noise, **kw)

    monkeypatch.setattr(DPMSolverPP, "step", spy)
    schedule = Schedule.create("cosine", 1000)
    mask = torch.zeros(4, 1, 2, dtype=torch.bool)
    mask[..., 0] = True
    sample_loop(
        correlated_denoiser(schedule), (4, 1, 2), schedule, "eps", make_sampler("dpm++", 1.0),
        5, torch.Generator().manual_seed(0), known=(mask, torch.ones(4, 1, 2)), resample=3,
    )  # fmt: skip
    grid = sorted({t for t, _ in seen}, reverse=True)
    assert len(grid) == 5 and len(seen) == 3 * 4 + 1  # the last step is not repeated
    for t in grid[1:]:
        memories = [h for s, h in seen if s == t]
        assert memories[0] is not None
        assert all(h is memories[0] for h in memories), t  # the previous grid step's, each time
