"""The diffusion process, independent of any network: schedules, objectives, the training loss,
samplers and their settings, guidance."""

from tfusion.diffusion.guidance import classifier_free_guidance, drop_condition
from tfusion.diffusion.loss import diffusion_loss, noised
from tfusion.diffusion.objectives import Objective, add_noise, from_x0_eps, to_x0_eps
from tfusion.diffusion.samplers import (
    DDIM,
    DDPM,
    DPMSolverPP,
    RowStreams,
    make_sampler,
    row_generators,
    sample_loop,
)
from tfusion.diffusion.schedules import Schedule
from tfusion.diffusion.settings import SampleSettings

__all__ = [
    "DDIM",
    "DDPM",
    "DPMSolverPP",
    "Objective",
    "RowStreams",
    "SampleSettings",
    "Schedule",
    "add_noise",
    "classifier_free_guidance",
    "diffusion_loss",
    "drop_condition",
    "from_x0_eps",
    "make_sampler",
    "noised",
    "row_generators",
    "sample_loop",
    "to_x0_eps",
]
