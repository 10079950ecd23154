"""The full evaluation suite: every score, repeated K times with different seeds, as mean ± CI.

Inputs are windows (n, L, C) in any units; both sets are min-max scaled to [0, 1] with the real
data's per-feature range first (the TimeGAN / Diffusion-TS protocol). One seed fixes everything:
repeat k of a stochastic score uses seed + k. `SuiteConfig.device` says where the probes (the
LDS / LPS transformers, the GRU probes, the TS2Vec encoder) train; the default is the CPU.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from tfusion.devices import load_device
from tfusion.errors import ConfigError
from tfusion.metrics.correlation import correlational_score
from tfusion.metrics.discriminative import lds, timegan_discriminative
from tfusion.metrics.distribution import check_pair, normalise
from tfusion.metrics.fid import TS2VecEncoder, context_fid, embed_windows, train_encoder
from tfusion.metrics.memorisation import memorisation_check
from tfusion.metrics.prdc import prdc
from tfusion.metrics.predictive import lps, timegan_predictive
from tfusion.metrics.stats import mean_ci

STOCHASTIC = ("context_fid", "discriminative", "predictive", "lds", "lps")
DETERMINISTIC = ("correlational",)
EXTRAS = ("prdc", "memorisation")
ALL_METRICS = STOCHASTIC + DETERMINISTIC + EXTRAS

LABELS = {
    "context_fid": "Context-FID (TS2Vec encoder)",
    "correlational": "correlational score",
    "discriminative": "discriminative (TimeGAN GRU, |acc - 0.5|)",
    "predictive": "predictive (TimeGAN GRU, MAE, train synthetic / test real)",
    "lds": "LDS (TransFusion, |acc - 0.5|)",
    "lps": "LPS (TransFusion, MAE, published non-causal)",
}


@dataclass(frozen=True)
class SuiteConfig:
    """Which scores to compute, how often, and how long their small models train."""

    metrics: tuple[str, ...] = ALL_METRICS
    repeats: int = 5
    # repeats of LDS and LPS alone (None: `repeats`); at L = 384 each repeat costs ~10-17 min
    long_repeats: int | None = None
    seed: int = 0
    lds_iterations: int = 2000
    lps_iterations: int = 5000
    discriminative_iterations: int = 2000
    predictive_iterations: int = 5000
    fid_iterations: int | None = None  # None: the encoder's default
    # min-max both sets with the real range first (TimeGAN / Diffusion-TS protocol); False for
    # data already in its scoring units, such as TimeGAN's sines in [0, 1]
    normalise: bool = True
    # where the probes train: None (the CPU), auto, cpu, cuda, cuda:N, mps or a torch.device
    # (kept as its name, so the config stays plain data)
    device: str | torch.device | None = None

    def __post_init__(self) -> None:
        if isinstance(self.device, torch.device):
            object.__setattr__(self, "device", str(self.device))
        load_device(self.device)  # a one-line ConfigError now for a device that is not here
        unknown = [m for m in self.metrics if m not in ALL_METRICS]
        if unknown:
            raise ConfigError(f"unknown metric(s) {unknown}; choose from {', '.join(ALL_METRICS)}")
        if self.repeats < 1:
            raise ConfigError(f"repeats must be at least 1, got {self.repeats}")
        if self.long_repeats is not None and self.long_repeats < 1:
            raise ConfigError(f"long_repeats must be at least 1, got {self.long_repeats}")

    def repeats_of(self, metric: str) -> int:
        """How many seeds a stochastic score is averaged over."""
        if metric in ("lds", "lps") and self.long_repeats is not None:
            return self.long_repeats
        return self.repeats

    def scaled(self, factor: float) -> SuiteConfig:
        """The same suite with every training budget multiplied by `factor` (quick looks)."""

        def s(n: int) -> int:
            return max(20, int(n * factor))

        return replace(
            self,
            lds_iterations=s(self.lds_iterations),
            lps_iterations=s(self.lps_iterations),
            discriminative_iterations=s(self.discriminative_iterations),
            predictive_iterations=s(self.predictive_iterations),
            fid_iterations=s(self.fid_iterations or 600),
        )


def _runners(
    cfg: SuiteConfig,
    encoder_for: Callable[[np.ndarray, int], TS2VecEncoder],
    device: torch.device,
) -> dict[str, Callable[[np.ndarray, np.ndarray, int], float]]:
    return {
        "context_fid": lambda r, s, seed: context_fid(r, s, encoder=encoder_for(r, seed)),
        "discriminative": lambda r, s, seed: timegan_discriminative(
            r, s, cfg.discriminative_iterations, seed=seed, device=device
        ),
        "predictive": lambda r, s, seed: timegan_predictive(
            r, s, cfg.predictive_iterations, seed=seed, device=device
        ),
        "lds": lambda r, s, seed: lds(r, s, cfg.lds_iterations, seed=seed, device=device),
        "lps": lambda r, s, seed: lps(r, s, cfg.lps_iterations, seed=seed, device=device),
    }


def score_suite(
    real: np.ndarray,
    synthetic: np.ndarray,
    cfg: SuiteConfig | None = None,
    train: np.ndarray | None = None,
    encoders: dict[tuple[int, str], TS2VecEncoder] | None = None,
) -> dict[str, Any]:
    """Every requested score of `synthetic` against `real`; `train` enables the memorisation check.

    Returns {metric: {"mean", "ci95", "values"}} for scalar scores, plus dicts for prdc and
    memorisation, and the seconds each metric took under "seconds". `encoders` ((seed, real-set
    digest) -> Context-FID encoder) may be passed in and is filled: scoring several synthetic sets
    against the same real set then trains each seed's encoder once (it depends only on those two).
    The probes run on `cfg.device` (default the CPU).
    """
    cfg = cfg or SuiteConfig()
    device = load_device(cfg.device)
    check_pair(real, synthetic)
    r, s = real.astype(np.float64), synthetic.astype(np.float64)
    if cfg.normalise:
        r, s = normalise(r, s)
    encoders = {} if encoders is None else encoders
    real_digest: list[str] = []  # of `r`, hashed once, on first use

    def encoder_for(x: np.ndarray, seed: int) -> TS2VecEncoder:
        # one encoder per (seed, real set), shared by Context-FID and PRDC (and by calls that pass
        # the same `encoders`): training it dominates their cost. `x` is always `r`.
        if not real_digest:
            real_digest.append(_digest(x, cfg, device))
        key = (seed, real_digest[0])
        if key not in encoders:
            encoders[key] = train_encoder(x, seed=seed, device=device, **_fid_kw(cfg))
        return encoders[key]

    runners = _runners(cfg, encoder_for, device)
    out: dict[str, Any] = {"seconds": {}}
    for name in cfg.metrics:
        t0 = time.perf_counter()
        if name in STOCHASTIC:
            if name in ("predictive", "lps") and r.shape[2] < 2:
                continue  # they predict one feature from the others
            values = [runners[name](r, s, cfg.seed + k) for k in range(cfg.repeats_of(name))]
            out[name] = mean_ci(values)
        elif name == "correlational":
            out[name] = mean_ci([correlational_score(r, s)])
        elif name == "prdc":
            encoder = encoder_for(r, cfg.seed)
            out[name] = prdc(embed_windows(encoder, r), embed_windows(encoder, s))
        elif name == "memorisation" and train is not None:
            lo = real.min(axis=(0, 1))
            span = np.where(np.ptp(real, axis=(0, 1)) > 0, np.ptp(real, axis=(0, 1)), 1.0)
            out[name] = memorisation_check((train - lo) / span, r, s)
        out["seconds"][name] = time.perf_counter() - t0
    return out


def _digest(x: np.ndarray, cfg: SuiteConfig, device: torch.device) -> str:
    h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    h.update(repr((x.shape, cfg.fid_iterations)).encode())
    if device.type != "cpu":  # an encoder trained elsewhere differs in rounding
        h.update(str(device).encode())
    return h.hexdigest()


def _fid_kw(cfg: SuiteConfig) -> dict[str, int]:
    return {} if cfg.fid_iterations is None else {"iterations": cfg.fid_iterations}
