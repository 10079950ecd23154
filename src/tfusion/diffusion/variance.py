"""A learned reverse-process variance (Improved DDPM, Nichol & Dhariwal 2021), as DiT trains it.

The network outputs, beside its prediction, one value v per entry; frac = (v + 1) / 2
interpolates the reverse step's log-variance between the two bounds of the true one:

    log var = frac log beta_n + (1 - frac) log beta~_n,
    beta~_n = beta_n (1 - abar_{n-1}) / (1 - abar_n)

(beta~ "clipped": at the first step, where beta~_0 = 0, the next step's beta~_1 stands in). The
variance half is trained by the variational bound term L_vlb: per step n >= 1 the KL divergence
between the true posterior q(x_{n-1} | x_n, x0) and the model's Gaussian, at n = 0 the negative
log-likelihood of x0 under the model's Gaussian discretised to 256 levels in [-1, 1]; both in
bits per dimension, with the mean taken from the detached prediction so that only the variance
half learns from this term ("hybrid loss": L_simple + weight x L_vlb; DiT and ADM use weight 1
at T = 1000, Improved DDPM's lambda = 1 / 1000 times T).

Steps here are the schedule's integer steps n = t T - 1 (`Schedule.index`); between sampling
times t > s the same formulas hold with beta = 1 - abar(t) / abar(s), the respaced process.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from tfusion.diffusion.objectives import _bcast, to_x0_eps
from tfusion.diffusion.schedules import Schedule

LN2 = math.log(2.0)


def step_betas(ab_t: Tensor, ab_s: Tensor) -> tuple[Tensor, Tensor]:
    """(beta, beta~) of the transition from time s to the later time t, float64: beta =
    1 - abar_t / abar_s, beta~ = beta (1 - abar_s) / (1 - abar_t) (0 when s is clean data)."""
    beta = 1 - ab_t / ab_s
    return beta, beta * (1 - ab_s) / (1 - ab_t)


def interpolated_log_variance(v: Tensor, log_beta: Tensor, log_beta_tilde: Tensor) -> Tensor:
    """frac log beta + (1 - frac) log beta~ with frac = (v + 1) / 2; the logs broadcast per
    sample against v (B, ...)."""
    frac = (v + 1) / 2
    return frac * _bcast(log_beta, v) + (1 - frac) * _bcast(log_beta_tilde, v)


def posterior_terms(schedule: Schedule, t: Tensor) -> dict[str, Tensor]:
    """Per-sample quantities of the posterior q(x_{n-1} | x_n, x0) at training times t (B,),
    float64: coef_x0, coef_xt (posterior mean = coef_x0 x0 + coef_xt x_t), log_beta and the
    clipped log beta~ (the interpolation's bounds and the posterior's log-variance)."""
    n = schedule.index(t.double().cpu()).clamp(0, schedule.num_steps - 1)
    ab = schedule.alpha_bar
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
    beta, tilde = step_betas(ab, ab_prev)
    tilde_clipped = torch.cat([tilde[1:2], tilde[1:]])  # beta~_0 = 0: the next step's stands in
    coef_x0 = ab_prev.sqrt() * beta / (1 - ab)
    coef_xt = (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)
    return {
        "n": n,
        "coef_x0": coef_x0[n],
        "coef_xt": coef_xt[n],
        "log_beta": beta[n].log(),
        "log_beta_tilde": tilde_clipped[n].log(),
    }


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(mean1, exp logvar1) || N(mean2, exp logvar2)), elementwise, in nats."""
    return 0.5 * (
        -1.0
        + logvar2
        - logvar1
        + torch.exp(logvar1 - logvar2)
        + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )


def _std_normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log P(x) elementwise for x in [-1, 1] on 256 levels (bin width 2 / 255) under a Gaussian
    of `mean` and standard deviation exp(log_scale); the two edge bins reach to -inf / +inf."""
    centred = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = _std_normal_cdf(inv_std * (centred + 1.0 / 255.0))
    cdf_min = _std_normal_cdf(inv_std * (centred - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(
        x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta)
    )


def vlb_bits_per_dim(
    schedule: Schedule,
    prediction: str,
    pred: Tensor,
    v: Tensor,
    x0: Tensor,
    x_t: Tensor,
    t: Tensor,
) -> Tensor:
    """The variational bound term of each sample, (B,) bits per dimension: KL(q || p) at steps
    n >= 1, the discretised decoder NLL at n = 0. `pred` (the network's prediction of kind
    `prediction`, detached by the caller to train the variance half alone) gives the model's
    mean through its x0 (unclipped, as in training); `v` (B, ...) is the variance half."""
    terms = posterior_terms(schedule, t)
    alpha, sigma = (a.float() for a in schedule.alpha_sigma(t.double().cpu()))
    x0_hat, _ = to_x0_eps(pred.float(), x_t.float(), alpha, sigma, prediction)
    cx0, cxt = (_bcast(terms[k].float(), x_t) for k in ("coef_x0", "coef_xt"))
    model_mean = cx0 * x0_hat + cxt * x_t.float()
    true_mean = cx0 * x0.float() + cxt * x_t.float()
    model_logvar = interpolated_log_variance(
        v.float(), terms["log_beta"].float(), terms["log_beta_tilde"].float()
    )
    true_logvar = _bcast(terms["log_beta_tilde"].float(), x_t).expand_as(model_logvar)
    kl = normal_kl(true_mean, true_logvar, model_mean, model_logvar).flatten(1).mean(1) / LN2
    nll = -discretized_gaussian_log_likelihood(x0.float(), model_mean, 0.5 * model_logvar)
    nll = nll.flatten(1).mean(1) / LN2
    first = (terms["n"] == 0).to(kl.device)
    return torch.where(first, nll, kl)
