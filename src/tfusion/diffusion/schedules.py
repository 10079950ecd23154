"""Noise schedules: continuous time t in [0, 1] -> (alpha, sigma) with x_t = alpha x_0 + sigma eps.

All schedules here are variance preserving (alpha^2 + sigma^2 = 1). A discrete schedule of T
steps defines alpha_bar[n] = prod_{i<=n} (1 - beta_i) for n = 0..T-1; step n is time
t = (n + 1) / T, and t = 0 is clean data (alpha = 1, sigma = 0). This is the only place where
continuous time meets integer steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from tfusion.errors import ConfigError

SPACINGS = ("uniform", "quadratic", "logsnr", "karras")  # step grids, see Schedule.timesteps


def linear_betas(
    num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02, max_beta: float = 0.999
) -> Tensor:
    """DDPM's linear betas; the endpoints are rescaled by 1000/T so any T gives the same process."""
    scale = 1000.0 / num_steps
    betas = torch.linspace(beta_start * scale, beta_end * scale, num_steps, dtype=torch.float64)
    # Below T = 21 the rescaled beta_end reaches 1 (T = 20) or exceeds it, which would make
    # alpha_bar zero or negative (NaN alpha); clip like the cosine schedule does.
    return betas.clamp(max=max_beta)


def cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Nichol & Dhariwal's cosine schedule: alpha_bar(t) = cos^2(((t + s) / (1 + s)) pi / 2)."""

    def f(t: Tensor) -> Tensor:
        return torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2

    t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    alpha_bar = f(t)
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(max=max_beta)


BETA_SCHEDULES = {"linear": linear_betas, "cosine": cosine_betas}


@dataclass(frozen=True)
class Schedule:
    """A discrete variance-preserving schedule, queried in continuous time."""

    name: str
    alpha_bar: Tensor  # (T,) float64, decreasing

    @classmethod
    def create(cls, name: str = "cosine", num_steps: int = 1000) -> Schedule:
        """Build a named schedule ('linear' or 'cosine') with `num_steps` steps."""
        if name not in BETA_SCHEDULES:
            raise ConfigError(f"unknown schedule {name!r}; choose one of {sorted(BETA_SCHEDULES)}")
        if num_steps < 2:
            raise ConfigError(f"a schedule needs at least 2 steps, got {num_steps}")
        betas = BETA_SCHEDULES[name](num_steps)
        return cls(name=name, alpha_bar=torch.cumprod(1 - betas, dim=0))

    @property
    def num_steps(self) -> int:
        return self.alpha_bar.shape[0]

    @property
    def betas(self) -> Tensor:
        prev = torch.cat([self.alpha_bar.new_ones(1), self.alpha_bar[:-1]])
        return 1 - self.alpha_bar / prev

    def index(self, t: Tensor | float) -> Tensor:
        """Integer step n for time t (n = -1 is clean data)."""
        t = torch.as_tensor(t, dtype=torch.float64)
        return torch.round(t * self.num_steps).long() - 1

    def time(self, n: Tensor | int) -> Tensor:
        """Continuous time for integer step n."""
        return (torch.as_tensor(n, dtype=torch.float64) + 1) / self.num_steps

    def alpha_bar_at(self, t: Tensor | float) -> Tensor:
        """alpha_bar at time t, float64; 1 at t = 0."""
        n = self.index(t)
        padded = torch.cat([self.alpha_bar.new_ones(1), self.alpha_bar])
        return padded[(n + 1).clamp(0, self.num_steps)]

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """(alpha, sigma) at time t, float64."""
        ab = self.alpha_bar_at(t)
        return ab.sqrt(), (1 - ab).clamp(min=0).sqrt()

    def log_snr(self, t: Tensor | float) -> Tensor:
        """lambda = log(alpha / sigma); +inf at t = 0."""
        alpha, sigma = self.alpha_sigma(t)
        return torch.log(alpha) - torch.log(sigma)

    def sample_t(self, batch: int, generator: torch.Generator | None = None) -> Tensor:
        """Uniform training times on the step grid {1/T, ..., 1}, float32."""
        n = torch.randint(0, self.num_steps, (batch,), generator=generator)
        return self.time(n).float()

    def timesteps(self, num_steps: int | None = None, spacing: str = "uniform") -> Tensor:
        """Decreasing sampling grid t_0 = 1 > ... > t_K = 0 on the step grid.

        With num_steps = T every step is visited. Fewer steps always start at t = 1, the most
        noisy step, so no sampler skips the top of the schedule, and end at t = 0. `spacing`
        places the K - 1 steps in between:

        - "uniform": evenly in time ("trailing" spacing of Lin et al. 2024);
        - "quadratic": evenly in sqrt(t), denser near the data (DDIM's "quad" grid);
        - "logsnr": evenly in log-SNR between t = 1 and t = 1/T (DPM-Solver's grid);
        - "karras": EDM's rho = 7 grid in sigma / alpha (Karras et al. 2022).

        Grid points are rounded to training steps and kept strictly decreasing.
        """
        k = self.num_steps if num_steps is None else int(num_steps)
        T = self.num_steps
        if not 1 <= k <= T:
            raise ConfigError(f"sampling steps must be between 1 and the schedule's {T}, got {k}")
        if spacing not in SPACINGS:
            raise ConfigError(f"unknown step spacing {spacing!r}; choose one of {list(SPACINGS)}")
        if spacing == "uniform" or k == T or k == 1:
            n = torch.round(torch.linspace(T, 0, k + 1, dtype=torch.float64))
            return n / T
        u = torch.linspace(0, 1, k, dtype=torch.float64)  # 0: t = 1, 1: t = 1/T
        if spacing == "quadratic":
            target = (1 - u) ** 2 * (T - 1) + 1  # in step units, from T down to 1
            n = torch.round(target)
        else:
            lam = self.log_snr(self.time(torch.arange(T)))  # increasing toward the data
            lam = torch.flip(lam, [0])  # index i <-> step T - i, now increasing from t = 1
            # Above sigma / alpha = 80 (EDM's sigma_max) alpha^2 < 2e-4: x_t is all but pure noise;
            # the cosine schedule's clipped last betas would otherwise spend many steps there.
            lo, hi = max(float(lam[0]), -math.log(80.0)), float(lam[-1])
            if spacing == "logsnr":
                want = lo + u * (hi - lo)
            else:  # karras: sigma/alpha = exp(-lambda) on the rho = 7 grid
                rho = 7.0
                s_max, s_min = math.exp(-lo / rho), math.exp(-hi / rho)
                want = -rho * torch.log(s_max + u * (s_min - s_max))
            idx = torch.searchsorted(lam, want).clamp(1, T - 1)
            nearer_left = (want - lam[idx - 1]).abs() <= (lam[idx] - want).abs()
            idx = torch.where(nearer_left, idx - 1, idx)
            n = (T - idx).to(torch.float64)
        # strictly decreasing from T to 1: point i lies in [k - i, T - i], then at most one
        # step below the point before it
        i = torch.arange(k, dtype=torch.float64)
        n = torch.minimum(torch.maximum(n, k - i), T - i)
        n[0], n[-1] = T, 1
        for j in range(1, k):
            n[j] = min(float(n[j]), float(n[j - 1]) - 1)
        n = torch.cat([n, n.new_zeros(1)])
        return n / T
