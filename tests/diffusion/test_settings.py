"""SampleSettings: built from any family's sample section, overridden per call, and the one rule
for a missing step count; sample_loop takes it in place of a sampler."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tfusion.diffusion import SampleSettings, Schedule, make_sampler, sample_loop
from tfusion.dit.config import ImageSampleConfig
from tfusion.errors import ConfigError
from tfusion.multimodal.config import MultimodalSampleConfig
from tfusion.timeseries.config import SampleConfig

SCHEDULE = Schedule.create("cosine", 40)


def test_from_section_reads_a_full_section():
    sc = SampleConfig(sampler="ddim", steps=12, eta=0.3, clip=2.0, guidance=2.5, spacing="logsnr")
    s = SampleSettings.from_section(sc)
    assert (s.sampler, s.steps, s.eta, s.spacing, s.clip, s.guidance) == (
        "ddim",
        None,  # no step count asked for yet: the section's is the default
        0.3,
        "logsnr",
        2.0,
        2.5,
    )
    assert s.default_steps == 12 and s.num_steps(SCHEDULE) == 12
    d = SampleSettings.from_section(ImageSampleConfig())
    assert (d.eta, d.spacing, d.clip, d.guidance) == (0.0, "uniform", 1.0, 1.5)


def test_a_section_naming_ddpm_gets_its_own_step_count():
    # dit-paper.yaml: `sampler: ddpm, steps: 250` is DiT's 250 respaced ancestral steps
    own = SampleSettings.from_section(SimpleNamespace(sampler="ddpm", steps=10))
    assert own.num_steps(SCHEDULE) == 10
    assert own.override(steps=7).num_steps(SCHEDULE) == 7
    assert own.override(sampler="ddim").num_steps(SCHEDULE) == 10
    # ddpm asked for in place of a few-step sampler: all T steps, not 25 ancestral steps
    few = SampleSettings.from_section(SimpleNamespace(sampler="dpm++", steps=25))
    assert few.override(sampler="ddpm").num_steps(SCHEDULE) == SCHEDULE.num_steps
    assert few.num_steps(SCHEDULE) == 25


@pytest.mark.parametrize(
    "section",
    [SimpleNamespace(sampler="dpm++", steps=25), MultimodalSampleConfig(sampler="dpm++", steps=25)],
)
def test_fields_a_section_lacks_take_the_defaults(section):
    s = SampleSettings.from_section(section)
    assert (s.sampler, s.spacing, s.clip) == ("dpm++", "uniform", None)  # neither has these two
    assert s.eta == getattr(section, "eta", 0.0)  # the multimodal section has its own (1.0)
    assert s.guidance == getattr(section, "guidance", 1.0)
    assert s.num_steps(SCHEDULE) == 25


def test_override_keeps_what_is_none():
    s = SampleSettings.from_section(SampleConfig(clip=1.0))
    assert s.override() == s
    assert s.override(sampler=None, steps=None, eta=None, spacing=None, guidance=None) == s
    o = s.override(sampler="ddim", steps=7, eta=0.0, spacing="uniform", guidance=3.0)
    assert (o.sampler, o.steps, o.eta, o.spacing, o.guidance) == ("ddim", 7, 0.0, "uniform", 3.0)
    assert o.clip == s.clip and o.default_steps == s.default_steps
    with pytest.raises(TypeError, match="no field 'stpes'"):
        s.override(stpes=3)


def test_ddpm_without_a_step_count_runs_every_step_of_the_schedule():
    T = SCHEDULE.num_steps
    run = SampleSettings.from_section(SampleConfig(sampler="dpm++", steps=9, clip=1.0))
    assert run.override(sampler="ddpm").num_steps(SCHEDULE) == T  # 9 is the solver's count
    assert run.override(sampler="ddpm", steps=5).num_steps(SCHEDULE) == 5  # asked for: it wins
    assert run.override(sampler="ddim").num_steps(SCHEDULE) == 9
    assert SampleSettings("ddpm").num_steps(SCHEDULE) == T
    assert SampleSettings("ddim").num_steps(SCHEDULE) == T  # no default at all: every step
    assert SampleSettings("ddim", 6).num_steps(SCHEDULE) == 6


def test_construction_checks_the_sampler_and_eta():
    with pytest.raises(ConfigError, match="unknown sampler 'euler'"):
        SampleSettings("euler")
    with pytest.raises(ConfigError, match="eta must be 0"):
        SampleSettings.from_section(SampleConfig(clip=1.0)).override(eta=-0.5)
    assert SampleSettings("dpm++", eta=0.7).make_sampler() == make_sampler("dpm++", 0.7)


def _denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return 0.8 * x + 0.05 * t[:, None]  # any fixed function: the loops are compared


@pytest.mark.parametrize(
    "settings",
    [
        SampleSettings("dpm++", 6, eta=1.0, spacing="karras", clip=1.0),
        SampleSettings("ddim", None, eta=0.5, spacing="quadratic", default_steps=5),
        SampleSettings("ddpm", None, default_steps=5),  # all 40 steps
    ],
)
def test_sample_loop_with_settings_is_the_loop_with_keywords(settings):
    kw = {"steps": settings.num_steps(SCHEDULE), "clip_x0": settings.clip}
    a = sample_loop(
        _denoise, (3, 4), SCHEDULE, "eps", settings, generator=torch.Generator().manual_seed(1)
    )
    b = sample_loop(
        _denoise,
        (3, 4),
        SCHEDULE,
        "eps",
        make_sampler(settings.sampler, settings.eta),
        generator=torch.Generator().manual_seed(1),
        spacing=settings.spacing,
        **kw,
    )
    assert torch.equal(a, b)


def test_sample_loop_runs_the_settings_step_count():
    calls = []

    def denoise(x, t):
        calls.append(float(t[0]))
        return torch.zeros_like(x)

    sample_loop(denoise, (2, 3), SCHEDULE, "eps", SampleSettings("ddpm", default_steps=5))
    assert len(calls) == SCHEDULE.num_steps
    calls.clear()
    sample_loop(denoise, (2, 3), SCHEDULE, "eps", SampleSettings("ddim", default_steps=5))
    assert len(calls) == 5


def test_sample_loop_refuses_settings_given_twice():
    with pytest.raises(TypeError, match="in the SampleSettings"):
        sample_loop(_denoise, (2, 3), SCHEDULE, "eps", SampleSettings("ddim", 4), steps=4)
    with pytest.raises(TypeError, match="in the SampleSettings"):
        sample_loop(_denoise, (2, 3), SCHEDULE, "eps", SampleSettings("ddim", 4), spacing="karras")


def test_an_eta_the_ddpm_sampler_would_ignore_is_refused():
    # DDPM draws its full posterior noise (eta 1 in DDIM's terms); --sampler ddpm --eta 0.7
    # had given bit-identical output to no --eta
    base = SampleSettings(sampler="dpm++", eta=0.0)
    with pytest.raises(ConfigError, match=r"--eta 0\.7 does not apply to the ddpm sampler"):
        base.override(sampler="ddpm", eta=0.7)
    ddpm = SampleSettings(sampler="ddpm")
    with pytest.raises(ConfigError, match="ddim or dpm"):
        ddpm.override(eta=0.0)
    assert ddpm.override(eta=1.0).sampler == "ddpm"  # what it does anyway
    assert base.override(sampler="ddpm").sampler == "ddpm"  # the run's own eta is not asked
    assert base.override(sampler="ddim", eta=0.7).eta == 0.7
