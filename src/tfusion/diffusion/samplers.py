"""Stateless reverse-process samplers and the loop that drives them.

A sampler's `step(x, t, t_next, x0, eps, schedule, history, noise)` returns the next `x` and the
multistep history to pass to the next call; it keeps nothing between calls, so one sampler object
serves any number of batches at once. Times are continuous (1 = pure noise, 0 = data); `x0` and
`eps` are the network's prediction already converted by `objectives.to_x0_eps`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from tfusion.diffusion.objectives import to_x0_eps
from tfusion.diffusion.schedules import Schedule
from tfusion.errors import ConfigError
from tfusion.progress import progress as progress_bar
from tfusion.threads import flush_denormals

if TYPE_CHECKING:  # settings.py builds on this module
    from tfusion.diffusion.settings import SampleSettings

History = Any  # sampler-specific tuple, or None on the first step


def _ab(schedule: Schedule, t: float) -> float:
    return float(schedule.alpha_bar_at(t))


@dataclass(frozen=True)
class DDPM:
    """Ancestral sampling from the posterior q(x_s | x_t, x0), variance beta-tilde (Ho et al.),
    or, for a model with a learned variance (`variance`: its interpolation output v, see
    `tfusion.diffusion.variance`), exp(frac log beta + (1 - frac) log beta~) with frac =
    (v + 1) / 2 and beta, beta~ those of the transition s -> t (Improved DDPM's respacing)."""

    name: str = "ddpm"
    stochastic: bool = True

    def step(
        self,
        x: Tensor,
        t: float,
        t_next: float,
        x0: Tensor,
        eps: Tensor,
        schedule: Schedule,
        history: History = None,
        noise: Tensor | None = None,
        variance: Tensor | None = None,
    ) -> tuple[Tensor, History]:
        ab_t, ab_s = _ab(schedule, t), _ab(schedule, t_next)
        beta = 1 - ab_t / ab_s  # beta of the (possibly multi-step) transition s -> t
        c0 = math.sqrt(ab_s) * beta / (1 - ab_t)
        ct = math.sqrt(ab_t / ab_s) * (1 - ab_s) / (1 - ab_t)
        mean = c0 * x0 + ct * x
        var = max(beta * (1 - ab_s) / (1 - ab_t), 0.0)
        if t_next > 0 and var > 0:
            if noise is None:
                raise ConfigError("the DDPM sampler needs noise for every step but the last")
            if variance is None:
                return mean + math.sqrt(var) * noise, None
            frac = (variance.float() + 1) / 2
            log_var = frac * math.log(beta) + (1 - frac) * math.log(var)
            return mean + torch.exp(0.5 * log_var).to(mean.dtype) * noise, None
        return mean, None


@dataclass(frozen=True)
class DDIM:
    """DDIM (Song et al. 2021); eta = 0 is deterministic, eta = 1 matches DDPM's variance."""

    eta: float = 0.0
    name: str = "ddim"

    @property
    def stochastic(self) -> bool:
        return self.eta > 0

    def step(
        self,
        x: Tensor,
        t: float,
        t_next: float,
        x0: Tensor,
        eps: Tensor,
        schedule: Schedule,
        history: History = None,
        noise: Tensor | None = None,
    ) -> tuple[Tensor, History]:
        ab_t, ab_s = _ab(schedule, t), _ab(schedule, t_next)
        var = self.eta**2 * (1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)
        var = max(var, 0.0)
        out = math.sqrt(ab_s) * x0 + math.sqrt(max(1 - ab_s - var, 0.0)) * eps
        if var > 0 and t_next > 0:
            if noise is None:
                raise ConfigError("DDIM with eta > 0 needs noise for every step but the last")
            out = out + math.sqrt(var) * noise
        return out, None


@dataclass(frozen=True)
class DPMSolverPP:
    """DPM-Solver++(2M) (Lu et al. 2022), data prediction, first order on the first and last step.

    With eta = 0 it solves the probability-flow ODE. With eta > 0 it is the SDE variant: each
    step of log-SNR length h decays the current x by an extra exp(-eta h) and adds fresh noise
    of variance sigma_s^2 (1 - exp(-2 eta h)); at eta = 1 its first-order step is exactly DDPM's
    ancestral step, at any eta the marginals are those of the ODE. History is (x0 of the
    previous step, its log-SNR step h).
    """

    eta: float = 0.0
    name: str = "dpm++"

    @property
    def stochastic(self) -> bool:
        return self.eta > 0

    def step(
        self,
        x: Tensor,
        t: float,
        t_next: float,
        x0: Tensor,
        eps: Tensor,
        schedule: Schedule,
        history: History = None,
        noise: Tensor | None = None,
    ) -> tuple[Tensor, History]:
        if _ab(schedule, t_next) >= 1.0:
            # sigma = 0 (t_next = 0, or so close that it rounds to clean data): the solution of
            # the last step is the denoised sample; the log-SNR step would be infinite.
            return x0, None
        lam_t, lam_s = float(schedule.log_snr(t)), float(schedule.log_snr(t_next))
        a_s, s_s = (float(v) for v in schedule.alpha_sigma(t_next))
        s_t = float(schedule.alpha_sigma(t)[1])
        h = lam_s - lam_t
        d = x0
        if history is not None:
            x0_prev, h_prev = history
            r = h_prev / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
        eh = self.eta * h
        out = (s_s / s_t) * math.exp(-eh) * x - a_s * math.expm1(-h - eh) * d
        if eh > 0:
            if noise is None:
                raise ConfigError(
                    "DPM-Solver++ with eta > 0 needs noise for every step but the last"
                )
            out = out + s_s * math.sqrt(-math.expm1(-2 * eh)) * noise
        return out, (x0, h)


SAMPLERS: dict[str, Callable[..., Any]] = {"ddpm": DDPM, "ddim": DDIM, "dpm++": DPMSolverPP}


def make_sampler(name: str, eta: float = 0.0) -> DDPM | DDIM | DPMSolverPP:
    """A sampler by name: 'ddpm', 'ddim' or 'dpm++' (the last two with noise level eta)."""
    if not eta >= 0:  # also catches NaN
        raise ConfigError(f"eta must be 0 (deterministic) or more, got {eta}")
    if name == "ddim":
        return DDIM(eta=eta)
    if name == "dpm++":
        return DPMSolverPP(eta=eta)
    if name in SAMPLERS:
        return SAMPLERS[name]()
    raise ConfigError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}")


def row_generators(seeds: Iterable[int]) -> list[torch.Generator]:
    """One CPU generator per row, row k seeded `seeds[k]`: what every family passes to
    `sample_loop` so that a row draws the same noise at any batch size and on any device."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


@dataclass(frozen=True)
class RowStreams:
    """One generator per row, each drawing its noise at a fixed `length` along axis 1 and
    cut to the batch's length: a row's noise then depends neither on the other rows nor on
    how long the batch's sequences are (batches of whole sequences are cut to their longest)."""

    generators: Sequence[torch.Generator]
    length: int


# one generator for the whole batch, or one per row (row i's noise then does not depend on
# which other rows share the batch: a batch draws what its rows draw one by one)
Generators = torch.Generator | Sequence[torch.Generator] | RowStreams | None


def _randn(shape: tuple[int, ...], generator: Generators) -> Tensor:
    if generator is None or isinstance(generator, torch.Generator):
        device = generator.device if generator is not None else None
        return torch.randn(shape, generator=generator, device=device)
    if isinstance(generator, RowStreams):
        if len(generator.generators) != shape[0] or shape[1] > generator.length:
            raise ValueError(f"RowStreams of {generator.length} steps for a batch of {shape}")
        full = (generator.length, *shape[2:])
        rows = [torch.randn(full, generator=g, device=g.device) for g in generator.generators]
        return torch.stack([r[: shape[1]] for r in rows])
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {shape[0]} rows")
    return torch.stack([torch.randn(shape[1:], generator=g, device=g.device) for g in generator])


Denoiser = Callable[[Tensor, Tensor], Tensor]  # (x_t (B, ...), t (B,)) -> raw prediction


@torch.no_grad()
def sample_loop(
    denoise: Denoiser,
    shape: tuple[int, ...],
    schedule: Schedule,
    prediction: str,
    sampler: DDPM | DDIM | DPMSolverPP | SampleSettings,
    steps: int | None = None,
    generator: Generators = None,
    x_init: Tensor | None = None,
    clip_x0: float | None = None,
    progress: bool = False,
    known: tuple[Tensor, Tensor] | None = None,
    resample: int = 1,
    spacing: str | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Run `sampler` from pure noise (or `x_init` at t = 1) down to t = 0.

    Noise is drawn from `generator` where it lives (the CPU by default: the same numbers on
    every device) and the whole loop runs on `device` (default: the generator's device), where
    the denoiser's model should be. A sequence of generators, one per row, draws each row's
    noise from its own stream, so a batch draws what its rows draw one by one.

    `sampler` is a sampler object, or a `SampleSettings` value (anything without a `step`
    method is taken for one), which then also gives the step count (`SampleSettings.num_steps`),
    the x0 clipping and the spacing; `steps`, `clip_x0` and `spacing` must be left out then.

    `spacing` places the `steps` grid points in time (see `Schedule.timesteps`; default uniform).

    `clip_x0` clamps each x0 prediction to [-clip_x0, clip_x0] (and re-derives eps from it),
    which keeps samples inside the data range the model was trained on.

    `known = (mask, values)` conditions an unconditional model by replacement (inpainting):
    after every step, entries where `mask` is True are set to `values` noised to the next time,
    alpha * values + sigma * eps, and to `values` exactly at t = 0. For deterministic samplers
    eps is drawn once (the ODE path of a known point); for stochastic ones it is redrawn.
    Replacement alone biases the unknown part toward its marginal (for a 2-D Gaussian with
    correlation 0.9, the imputed mean reaches 0.69 of the conditional mean with DDPM); with
    `resample = r > 1` (RePaint, Lugmayr et al. 2022; a stochastic sampler: DDPM, or DDIM /
    DPM-Solver++ with eta > 0) each step is repeated r times, re-noising x from t_next back to t
    in between, which lets the two parts agree (0.95 at r = 5). A repeat is the same grid step
    again: DPM-Solver++(2M)'s second-order term uses the previous grid step's prediction, not
    the repeat's.
    """
    if not hasattr(sampler, "step"):  # SampleSettings
        if steps is not None or clip_x0 is not None or spacing is not None:
            raise TypeError("sample_loop: give steps, clip and spacing in the SampleSettings")
        settings = sampler
        sampler = settings.make_sampler()
        steps, clip_x0, spacing = settings.num_steps(schedule), settings.clip, settings.spacing
    spacing = "uniform" if spacing is None else spacing
    if resample > 1 and not sampler.stochastic:
        raise ConfigError(
            f"resample > 1 needs a stochastic sampler (ddpm, or eta > 0), not {sampler.name} "
            "with eta 0"
        )
    if resample < 1:
        raise ConfigError(f"resample must be at least 1, got {resample}")
    with flush_denormals():
        return _loop(
            denoise,
            shape,
            schedule,
            prediction,
            sampler,
            steps,
            generator,
            x_init,
            clip_x0,
            progress,
            known,
            resample,
            spacing,
            device,
        )


def _loop(
    denoise: Denoiser,
    shape: tuple[int, ...],
    schedule: Schedule,
    prediction: str,
    sampler: DDPM | DDIM | DPMSolverPP,
    steps: int | None,
    generator: Generators,
    x_init: Tensor | None,
    clip_x0: float | None,
    progress: bool,
    known: tuple[Tensor, Tensor] | None,
    resample: int = 1,
    spacing: str = "uniform",
    device: torch.device | str | None = None,
) -> Tensor:
    grid = schedule.timesteps(steps, spacing).tolist()  # validates before any work
    x = _randn(shape, generator) if x_init is None else x_init.clone()
    if device is not None:
        x = x.to(device)
    project = _replacement(known, x, schedule, sampler, generator)
    x = project(x, grid[0])
    history: History = None
    pairs = list(itertools.pairwise(grid))
    for t, t_next in progress_bar(pairs, progress, desc=f"sampling ({sampler.name})"):
        alpha, sigma = (v.float() for v in schedule.alpha_sigma(t))
        t_batch = torch.full((shape[0],), t, dtype=torch.float32, device=x.device)
        before = history  # a multistep solver's memory of the previous grid step
        for r in range(resample if t_next > 0 else 1):
            if r > 0:  # RePaint: back from t_next to t, q(x_t | x_t_next)
                history = before  # a repeat is the same step again, not one more step
                ratio = float(schedule.alpha_bar_at(t) / schedule.alpha_bar_at(t_next))
                noise = _randn(shape, generator).to(x.device)
                x = ratio**0.5 * x + (1.0 - ratio) ** 0.5 * noise
            pred = denoise(x, t_batch).float()
            variance = None
            if pred.shape[1] == 2 * x.shape[1] > 0:
                # a learned variance (DiT's learn_sigma): DDPM samples with it, others ignore it
                pred, variance = pred[:, : x.shape[1]], pred[:, x.shape[1] :]
            x0, eps = to_x0_eps(pred, x, alpha, sigma, prediction)
            if clip_x0 is not None:
                x0 = x0.clamp(-clip_x0, clip_x0)
                eps = (x - alpha * x0) / sigma
            noise = None
            if sampler.stochastic and t_next > 0:
                # Drawn where the generator lives (CPU by default), then moved next to x.
                noise = _randn(shape, generator).to(x.device)
            if variance is not None and isinstance(sampler, DDPM):
                x, history = sampler.step(
                    x, t, t_next, x0, eps, schedule, history, noise, variance=variance
                )
            else:
                x, history = sampler.step(x, t, t_next, x0, eps, schedule, history, noise)
            x = project(x, t_next)
    return x


def _replacement(
    known: tuple[Tensor, Tensor] | None,
    x: Tensor,
    schedule: Schedule,
    sampler: DDPM | DDIM | DPMSolverPP,
    generator: Generators,
) -> Callable[[Tensor, float], Tensor]:
    """x -> x with the known entries set to their noised values at time t (see sample_loop)."""
    if known is None:
        return lambda x, t: x
    mask, values = known
    mask = mask.to(x.device).expand_as(x)
    values = torch.nan_to_num(values.to(x.device, x.dtype)).expand_as(x)
    fixed = x.clone() if x.dtype.is_floating_point else None  # the ODE start noise

    def project(x: Tensor, t: float) -> Tensor:
        if t <= 0:
            return torch.where(mask, values, x)
        alpha, sigma = (v.float() for v in schedule.alpha_sigma(t))
        eps = _randn(x.shape, generator).to(x.device) if sampler.stochastic else fixed
        return torch.where(mask, alpha * values + sigma * eps, x)

    return project
