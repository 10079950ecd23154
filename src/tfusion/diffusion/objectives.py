"""What the network predicts (eps, v or x0), exact conversions between them, and the loss.

With x_t = alpha x0 + sigma eps and alpha^2 + sigma^2 = 1:
    v   = alpha eps - sigma x0
    x0  = (x_t - sigma eps) / alpha = alpha x_t - sigma v
    eps = (x_t - alpha x0) / sigma  = sigma x_t + alpha v
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tfusion.errors import ConfigError

PREDICTIONS = ("eps", "v", "x0")
LOSSES = ("mse", "l1")


def _bcast(a: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-sample (B,) coefficient to broadcast against (B, ...); a coefficient that
    matches the leading axes of `like`, such as one per position (B, T) against (B, T, P), gets
    trailing unit axes."""
    if not isinstance(a, Tensor) or a.dim() == 0:
        # a scalar stays a 0-dim CPU tensor: it broadcasts against a GPU tensor without a copy
        # (a copy to the GPU would wait for the queued work)
        return torch.as_tensor(a).to(like.dtype)
    a = a.to(like.device)
    if 1 < a.dim() < like.dim() and a.shape == like.shape[: a.dim()]:
        return a.to(like.dtype).reshape(*a.shape, *([1] * (like.dim() - a.dim())))
    return a.to(like.dtype).reshape(a.shape[0], *([1] * (like.dim() - 1)))


def to_x0_eps(
    pred: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor, kind: str
) -> tuple[Tensor, Tensor]:
    """Convert a prediction of type `kind` into (x0, eps)."""
    a, s = _bcast(alpha, x_t), _bcast(sigma, x_t)
    if kind == "eps":
        return (x_t - s * pred) / a, pred
    if kind == "v":
        return a * x_t - s * pred, s * x_t + a * pred
    if kind == "x0":
        return pred, (x_t - a * pred) / s
    raise ConfigError(f"unknown prediction {kind!r}; choose one of {PREDICTIONS}")


def from_x0_eps(x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor, kind: str) -> Tensor:
    """The prediction of type `kind` that corresponds to (x0, eps)."""
    a, s = _bcast(alpha, x0), _bcast(sigma, x0)
    if kind == "eps":
        return eps
    if kind == "v":
        return a * eps - s * x0
    if kind == "x0":
        return x0
    raise ConfigError(f"unknown prediction {kind!r}; choose one of {PREDICTIONS}")


def add_noise(x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """The forward process: x_t = alpha x0 + sigma eps."""
    return _bcast(alpha, x0) * x0 + _bcast(sigma, x0) * eps


@dataclass(frozen=True)
class Objective:
    """A training objective: prediction type, loss and an optional frequency-domain term."""

    prediction: str = "v"
    loss: str = "mse"
    fourier_weight: float = 0.0  # weight of an L1/L2 loss on rfft over the sequence axis

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ConfigError(
                f"unknown prediction {self.prediction!r}; choose one of {PREDICTIONS}"
            )
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose one of {LOSSES}")

    def target(self, x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
        """The regression target for the network."""
        return from_x0_eps(x0, eps, alpha, sigma, self.prediction)

    def loss_per_sample(
        self,
        pred: Tensor,
        target: Tensor,
        seq_dim: int = 1,
        mask: Tensor | None = None,
        weights: Tensor | None = None,
    ) -> Tensor:
        """Loss averaged over all but the batch axis, (B,). `mask` (B, L) bool (padded whole
        sequences): only the real steps count, each sample's mean over its own steps; the
        Fourier term needs equal lengths and is refused with a mask. `weights` (C,) scale each
        channel's error (a categorical channel's K one-hot columns weigh 1/K each)."""
        pred, target = pred.float(), target.float()
        err = pred - target
        per = err.pow(2) if self.loss == "mse" else err.abs()
        if weights is not None:
            per = per * weights.to(per.dtype)
        if mask is not None:
            if self.fourier_weight > 0:
                raise ConfigError(
                    "diffusion.fourier_weight needs equal-length windows; set it to 0 for "
                    "whole sequences (data.whole=true)"
                )
            w = mask.to(per.dtype).unsqueeze(-1).expand_as(per)
            return (per * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1.0)
        out = per.flatten(1).mean(1)
        if self.fourier_weight > 0:
            # Diffusion-TS style Fourier term: match the spectrum along the sequence axis.
            fp = torch.fft.rfft(pred, dim=seq_dim, norm="forward")
            ft = torch.fft.rfft(target, dim=seq_dim, norm="forward")
            diff = torch.view_as_real(fp - ft)
            fper = diff.pow(2) if self.loss == "mse" else diff.abs()
            out = out + self.fourier_weight * fper.flatten(1).mean(1)
        return out

    def __call__(
        self,
        pred: Tensor,
        target: Tensor,
        mask: Tensor | None = None,
        weights: Tensor | None = None,
    ) -> Tensor:
        """Mean loss over the batch (over real steps only, with a `mask`; channels scaled by
        `weights`)."""
        return self.loss_per_sample(pred, target, mask=mask, weights=weights).mean()
