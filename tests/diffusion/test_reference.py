"""Agreement with diffusers' schedulers on identical inputs (the reference implementation).

Time mapping: diffusers' integer timestep n is our t = (n + 1) / T (`Schedule.time`); diffusers'
"previous timestep < 0" (alpha_prod = 1 with set_alpha_to_one) is our t_next = 0. Both sides use
"trailing" spacing, so with K dividing T the grids are the same: n = T - 1, T - 1 - T/K, ...,
T/K - 1.

Precision: diffusers keeps alphas_cumprod in float32 and forms a step's beta as
1 - alpha_prod_t / alpha_prod_prev, which near the data end (beta ~ 1e-4) loses ~1e-3 of beta and
moves a DDPM step by up to 7e-5 (our float64 coefficients are within 1e-7 of a float64 reference).
So the step tests hand diffusers our float64 alpha_bar (equal to its own within 1e-6, tested
below); both sides then compute coefficients in float64 and the tensors in float32, and any
difference is in the step formulas.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from tfusion.diffusion import DDIM, DDPM, DPMSolverPP, Schedule, sample_loop, to_x0_eps

ddim_module = pytest.importorskip("diffusers.schedulers.scheduling_ddim")
ddpm_module = pytest.importorskip("diffusers.schedulers.scheduling_ddpm")
dpm_module = pytest.importorskip("diffusers.schedulers.scheduling_dpmsolver_multistep")

T = 1000
OURS_TO_DIFFUSERS_SCHEDULE = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
OURS_TO_DIFFUSERS_PREDICTION = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}
SCHEDULES = list(OURS_TO_DIFFUSERS_SCHEDULE)
PREDICTIONS = list(OURS_TO_DIFFUSERS_PREDICTION)
SHAPE = (4, 3, 5)
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _config(schedule: str, prediction: str) -> dict:
    return {
        "num_train_timesteps": T,
        "beta_start": 1e-4,
        "beta_end": 0.02,
        "beta_schedule": OURS_TO_DIFFUSERS_SCHEDULE[schedule],
        "prediction_type": OURS_TO_DIFFUSERS_PREDICTION[prediction],
        "timestep_spacing": "trailing",
    }


def _with_our_alpha_bar(ref, schedule: str):
    """Give a diffusers scheduler our float64 alpha_bar (see the module docstring)."""
    ref.alphas_cumprod = Schedule.create(schedule, T).alpha_bar.clone()
    return ref


def _ddim(schedule: str, prediction: str, steps: int):
    ref = ddim_module.DDIMScheduler(
        **_config(schedule, prediction), clip_sample=False, set_alpha_to_one=True
    )
    ref.set_timesteps(steps)
    return _with_our_alpha_bar(ref, schedule)


def _ddpm(schedule: str, prediction: str):
    ref = ddpm_module.DDPMScheduler(
        **_config(schedule, prediction), clip_sample=False, variance_type="fixed_small"
    )
    return _with_our_alpha_bar(ref, schedule)


def _dpm(schedule: str, prediction: str, steps: int):
    ref = dpm_module.DPMSolverMultistepScheduler(
        **_config(schedule, prediction),
        algorithm_type="dpmsolver++",
        solver_order=2,
        solver_type="midpoint",
        final_sigmas_type="zero",
        lower_order_final=True,
    )
    _with_our_alpha_bar(ref, schedule)  # before set_timesteps, which derives its sigmas from it
    ref.set_timesteps(steps)
    return ref


def _model(sched: Schedule, prediction: str):
    """A smooth, non-linear stand-in network (x_t, t) -> prediction of the given type.

    It is the exact denoiser of N(0.5, 0.3^2) data plus a wiggle, so values stay realistic at
    every noise level (a random eps at alpha ~ 1e-4 would make x0 ~ 1e4 and test only rounding).
    """

    def model(x: Tensor, t: Tensor) -> Tensor:
        alpha, sigma = (v.float().view(-1, *([1] * (x.dim() - 1))) for v in sched.alpha_sigma(t))
        x0 = 0.5 + alpha * 0.09 / (alpha**2 * 0.09 + sigma**2) * (x - alpha * 0.5)
        x0 = x0 + 0.05 * torch.sin(3 * x)
        eps = (x - alpha * x0) / sigma
        return {"eps": eps, "v": alpha * eps - sigma * x0, "x0": x0}[prediction]

    return model


def _t(n: int, batch: int = SHAPE[0]) -> Tensor:
    return torch.full((batch,), (n + 1) / T, dtype=torch.float32)


def _state(n: int, seed: int, sched: Schedule) -> Tensor:
    """A sample at step n from the forward process of N(0.5, 0.3^2) data, float32."""
    g = torch.Generator().manual_seed(seed)
    alpha, sigma = (float(v) for v in sched.alpha_sigma(sched.time(n)))
    return alpha * (0.5 + 0.3 * torch.randn(SHAPE, generator=g)) + sigma * torch.randn(
        SHAPE, generator=g
    )


@pytest.mark.parametrize(
    ("schedule", "num_steps", "beta_start", "beta_end"),
    [
        ("linear", 1000, 1e-4, 0.02),
        ("linear", 250, 4e-4, 0.08),  # diffusers takes the ends as given; ours rescales by 1000/T
        ("cosine", 1000, None, None),  # squaredcos_cap_v2 ignores the ends
        ("cosine", 250, None, None),
    ],
)
def test_alpha_bar_equals_diffusers(
    schedule: str, num_steps: int, beta_start: float | None, beta_end: float | None
) -> None:
    ends = {} if beta_start is None else {"beta_start": beta_start, "beta_end": beta_end}
    ref = ddpm_module.DDPMScheduler(
        num_train_timesteps=num_steps, beta_schedule=OURS_TO_DIFFUSERS_SCHEDULE[schedule], **ends
    ).alphas_cumprod
    ours = Schedule.create(schedule, num_steps).alpha_bar
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref.double(), rtol=0, atol=1e-6)


def _our_step(sampler, x, n, n_next, pred, sched, prediction, noise=None):
    t, t_next = float(sched.time(n)), float(sched.time(n_next))
    alpha, sigma = (v.float() for v in sched.alpha_sigma(t))
    x0, eps = to_x0_eps(pred, x, alpha, sigma, prediction)
    return sampler.step(x, t, t_next, x0, eps, sched, None, noise)[0]


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(schedule: str, prediction: str, eta: float) -> None:
    sched = Schedule.create(schedule, T)
    ref = _ddim(schedule, prediction, 50)
    assert ref.timesteps.tolist() == (sched.index(sched.timesteps(50))[:-1]).tolist()
    model = _model(sched, prediction)
    for i, n in enumerate([999, 979, 499, 39, 19]):  # 19 -> -1 is the last step, to clean data
        x = _state(n, i, sched)
        pred = model(x, _t(n))
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(100 + i))
        expected = ref.step(pred, n, x, eta=eta, variance_noise=noise).prev_sample
        ours = _our_step(DDIM(eta=eta), x, n, n - 20, pred, sched, prediction, noise)
        torch.testing.assert_close(ours, expected, **TOL, msg=f"step from n = {n}")


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ddpm_step_matches_diffusers(schedule: str, prediction: str) -> None:
    sched = Schedule.create(schedule, T)
    ref = _ddpm(schedule, prediction)  # no set_timesteps: the previous step of n is n - 1
    model = _model(sched, prediction)
    for i, n in enumerate([999, 998, 500, 1, 0]):  # 0 -> -1 is the last step, without noise
        x = _state(n, i, sched)
        pred = model(x, _t(n))
        # diffusers draws the noise with randn(model_output.shape, generator); so do we.
        expected = ref.step(pred, n, x, generator=torch.Generator().manual_seed(i)).prev_sample
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(i)) if n > 0 else None
        ours = _our_step(DDPM(), x, n, n - 1, pred, sched, prediction, noise)
        torch.testing.assert_close(ours, expected, **TOL, msg=f"step from n = {n}")


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ddpm_skipping_step_matches_diffusers(schedule: str, prediction: str) -> None:
    """DDPM on a 50-step grid: the posterior of a multi-step transition n -> n - 20."""
    sched = Schedule.create(schedule, T)
    ref = _ddpm(schedule, prediction)
    ref.set_timesteps(50)
    assert ref.timesteps.tolist() == (sched.index(sched.timesteps(50))[:-1]).tolist()
    model = _model(sched, prediction)
    for i, n in enumerate([999, 499, 39]):
        x = _state(n, i, sched)
        pred = model(x, _t(n))
        expected = ref.step(pred, n, x, generator=torch.Generator().manual_seed(i)).prev_sample
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(i))
        ours = _our_step(DDPM(), x, n, n - 20, pred, sched, prediction, noise)
        torch.testing.assert_close(ours, expected, **TOL, msg=f"step from n = {n}")


def _diffusers_loop(ref, model, steps_kwargs: dict, generator: torch.Generator) -> Tensor:
    """diffusers' sampling loop, drawing x_T and all noise from `generator` in the same order.

    Returns the whole trajectory (K + 1, *SHAPE): the input of every step and the result.
    """
    x = torch.randn(SHAPE, generator=generator)
    states = [x]
    for n in ref.timesteps.tolist():
        x = ref.step(model(x, _t(n)), n, x, generator=generator, **steps_kwargs).prev_sample
        states.append(x)
    return torch.stack(states)


def _our_loop(model, sched: Schedule, prediction: str, sampler, steps: int | None, **kw) -> Tensor:
    """sample_loop from seed 0, returning its trajectory (K + 1, *SHAPE) like _diffusers_loop."""
    states: list[Tensor] = []

    def recording(x: Tensor, t: Tensor) -> Tensor:
        states.append(x.clone())
        return model(x, t)

    g = torch.Generator().manual_seed(0)
    states.append(sample_loop(recording, SHAPE, sched, prediction, sampler, steps, g, **kw))
    return torch.stack(states)


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize(
    ("name", "steps"), [("ddim-eta0", 50), ("ddim-eta1", 50), ("ddpm", None), ("dpm++", 20)]
)
def test_whole_sampling_loop_matches_diffusers(
    schedule: str, prediction: str, name: str, steps: int | None
) -> None:
    """sample_loop against diffusers' loop from one seed: same x_T, noise, every state, result."""
    sched = Schedule.create(schedule, T)
    model = _model(sched, prediction)
    if name.startswith("ddim"):
        eta = 1.0 if name == "ddim-eta1" else 0.0
        sampler, ref, kwargs = DDIM(eta=eta), _ddim(schedule, prediction, steps), {"eta": eta}
    elif name == "ddpm":
        sampler, ref, kwargs = DDPM(), _ddpm(schedule, prediction), {}
        ref.set_timesteps(T)
    else:
        sampler, ref, kwargs = DPMSolverPP(), _dpm(schedule, prediction, steps), {}
    assert ref.timesteps.tolist() == (sched.index(sched.timesteps(steps))[:-1]).tolist()
    expected = _diffusers_loop(ref, model, kwargs, torch.Generator().manual_seed(0))
    ours = _our_loop(model, sched, prediction, sampler, steps)
    torch.testing.assert_close(ours, expected, **TOL)
    assert ours[-1].std().item() > 0.1  # a real sample, not a collapsed one


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_with_clipped_x0_matches_diffusers(schedule: str, prediction: str, eta: float) -> None:
    """clip_x0 clamps x0 and re-derives eps from it (diffusers' use_clipped_model_output)."""
    sched = Schedule.create(schedule, T)
    model = _model(sched, prediction)
    ref = ddim_module.DDIMScheduler(
        **_config(schedule, prediction),
        clip_sample=True,
        clip_sample_range=0.6,  # below most x0 predictions of N(0.5, 0.3^2), so the clip acts
        set_alpha_to_one=True,
    )
    ref.set_timesteps(20)
    _with_our_alpha_bar(ref, schedule)
    kwargs = {"eta": eta, "use_clipped_model_output": True}
    expected = _diffusers_loop(ref, model, kwargs, torch.Generator().manual_seed(0))
    ours = _our_loop(model, sched, prediction, DDIM(eta=eta), 20, clip_x0=0.6)
    torch.testing.assert_close(ours, expected, **TOL)
    assert ours[-1].max().item() == pytest.approx(0.6)  # the clip was active at the last step
