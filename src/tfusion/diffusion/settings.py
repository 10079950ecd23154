"""How to sample, as one value: sampler, step count, noise, step grid, x0 clipping, guidance.

A family builds it from its run's sample section (`SampleSettings.from_section`), applies the
caller's overrides (`override`, where None keeps the run's value) and passes it to
`sample_loop`. The one rule for a missing step count lives in `num_steps`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from tfusion.diffusion.samplers import DDIM, DDPM, DPMSolverPP, make_sampler
from tfusion.diffusion.schedules import Schedule
from tfusion.errors import ConfigError

# what a sample section that lacks a field is taken to say
DEFAULTS: dict[str, Any] = {"eta": 0.0, "spacing": "uniform", "clip": None, "guidance": 1.0}


@dataclass(frozen=True)
class SampleSettings:
    """Sampling settings. Construction checks the sampler name and eta (as `make_sampler` does);
    the step count and spacing are checked by `Schedule.timesteps` when sampling starts.

    `guidance` is the classifier-free guidance scale: the family reads it when it builds the
    denoiser (guidance changes the network call, not the loop).
    """

    sampler: str = "ddpm"  # ddpm | ddim | dpm++
    steps: int | None = None  # asked-for step count; None: see `num_steps`
    eta: float = 0.0  # DDIM / DPM-Solver++ noise: 0 = the probability-flow ODE
    spacing: str = "uniform"  # step grid, see Schedule.timesteps
    clip: float | None = None  # clamp x0 predictions to [-clip, clip]
    guidance: float = 1.0  # classifier-free guidance scale (1 = the conditional model alone)
    default_steps: int | None = None  # a run's sample.steps: used when a call asks for none
    default_sampler: str | None = None  # the sampler the run's section names

    def __post_init__(self) -> None:
        for name in ("eta", "guidance", "clip"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ConfigError(f"--{name} must be a finite number, got {value!r}")  # nan, inf
        make_sampler(self.sampler, self.eta)  # fails on an unknown name or a negative eta

    @classmethod
    def from_section(cls, section: Any) -> SampleSettings:
        """The settings of any family's sample config section (duck typed: `sampler` and
        `steps` are read, `eta`, `spacing`, `clip` and `guidance` where the section has them,
        else the defaults 0.0, "uniform", None and 1.0). The section's `steps` becomes
        `default_steps` and its `sampler` `default_sampler` (see `num_steps`). A field that
        needs more than its section to mean a number (the time-series clip `auto`, which
        depends on the scaler) is resolved by the family first (`TimeSeriesRun.settings`)."""
        return cls(
            sampler=section.sampler,
            default_steps=getattr(section, "steps", None),
            default_sampler=section.sampler,
            **{k: getattr(section, k, v) for k, v in DEFAULTS.items()},
        )

    def override(self, **changes: Any) -> SampleSettings:
        """These settings with per-call changes; a change of None keeps the current value."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"SampleSettings has no field {sorted(unknown)[0]!r}")
        out = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        eta = changes.get("eta")
        if eta is not None and out.sampler == "ddpm" and eta != 1:
            # the ancestral sampler always draws its full posterior noise (what eta 1 is for
            # DDIM / DPM++): another eta had been accepted and ignored
            raise ConfigError(
                f"--eta {eta:g} does not apply to the ddpm sampler (its noise is fixed: eta 1); "
                "use --sampler ddim or dpm++ to choose the noise"
            )
        return out

    def num_steps(self, schedule: Schedule) -> int:
        """The number of sampler steps: `steps` when one was asked for; otherwise the run's own
        `default_steps` (all T where there is none), except that ddpm asked for in place of a
        run's few-step sampler takes all T steps (a run saying `sampler: dpm++, steps: 50`
        means 50 solver steps, not a 50-step ancestral chain; one saying `sampler: ddpm,
        steps: 250` gets its 250 respaced steps). This is the only place that decides what
        "no step count" means."""
        if self.steps is not None:
            return self.steps
        if self.default_steps is None:
            return schedule.num_steps
        if self.sampler == "ddpm" and self.default_sampler != "ddpm":
            return schedule.num_steps
        return self.default_steps

    def make_sampler(self) -> DDPM | DDIM | DPMSolverPP:
        """The sampler object these settings name."""
        return make_sampler(self.sampler, self.eta)
