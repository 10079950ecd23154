"""The full evaluation suite: every score, repeated K times with different seeds, as mean ± CI.

Inputs are windows (n, L, C) in any units; both sets are min-max scaled to [0, 1] with the real
data's per-feature range first (the TimeGAN / Diffusion-TS protocol). One seed fixes everything:
repeat k of a stochastic score uses seed + k. `SuiteConfig.device` says where the probes (the
LDS / LPS transformers, the GRU probes, the TS2Vec encoder) train; the default is the CPU.

The probes are independent of each other, so `SuiteConfig.workers` runs them concurrently in
worker processes (default: one per CPU core, each on cores / workers threads), longest first;
every probe is seeded, so the scores do not depend on the number of workers (up to the rounding
of a different thread count).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from tfusion.devices import load_device
from tfusion.errors import ConfigError
from tfusion.metrics.correlation import correlational_draws, correlational_score
from tfusion.metrics.discriminative import lds, lds_fast, timegan_discriminative
from tfusion.metrics.distribution import check_pair, normalise
from tfusion.metrics.fid import (
    ITERATIONS,
    TS2VecEncoder,
    context_fid,
    embed_windows,
    train_encoder,
)
from tfusion.metrics.memorisation import memorisation_check
from tfusion.metrics.prdc import prdc
from tfusion.metrics.predictive import lps, lps_fast, timegan_predictive
from tfusion.metrics.stats import mean_ci

# TransFusion's scores in two variants: "lds" / "lps" compute what the published code computes,
# "lds-fast" / "lps-fast" are tfusion's stable, fast versions (the default: see DEFAULT_METRICS)
LONG = ("lds", "lps", "lds-fast", "lps-fast")
STOCHASTIC = ("context_fid", "discriminative", "predictive", *LONG)
DETERMINISTIC = ("correlational",)
EXTRAS = ("prdc", "memorisation")
ALL_METRICS = STOCHASTIC + DETERMINISTIC + EXTRAS
# what `tfusion evaluate` and SuiteConfig() score: every score once, TransFusion's in the fast
# variants (the published ones take hours per run at L = 384 on a CPU; RESULTS.md "Score
# variants" has how the two agree)
DEFAULT_METRICS = tuple(m for m in ALL_METRICS if m not in ("lds", "lps"))

LABELS = {
    "context_fid": "Context-FID (TS2Vec encoder)",
    "correlational": "correlational (Diffusion-TS protocol: 5 draws of n / 5 windows)",
    "discriminative": "discriminative (TimeGAN GRU, |acc - 0.5|)",
    "predictive": "predictive (TimeGAN GRU, MAE, train synthetic / test real)",
    "lds": "LDS, published (TransFusion's classifier, |acc - 0.5|)",
    "lps": "LPS, published (TransFusion's predictor, MAE, non-causal)",
    "lds-fast": "LDS, tfusion fast variant (lds-fast, |acc - 0.5|)",
    "lps-fast": "LPS, tfusion fast variant (lps-fast, MAE)",
}


@dataclass(frozen=True)
class SuiteConfig:
    """Which scores to compute, how often, and how long their small models train."""

    metrics: tuple[str, ...] = DEFAULT_METRICS
    repeats: int = 5
    # repeats of the LDS and LPS variants alone (None: `repeats`)
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
    # worker processes for the probes: None = one per CPU core on the CPU (1 on an
    # accelerator), 1 = in this process, one after another
    workers: int | None = None

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
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")

    def repeats_of(self, metric: str) -> int:
        """How many seeds a stochastic score is averaged over."""
        if metric in LONG and self.long_repeats is not None:
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
            fid_iterations=s(self.fid_iterations or ITERATIONS),
        )


def _probe(name: str, r: np.ndarray, s: np.ndarray, cfg: SuiteConfig, seed: int) -> float:
    """One run of a stochastic score other than Context-FID."""
    device = load_device(cfg.device)
    if name in ("discriminative", "predictive"):
        probe = timegan_discriminative if name == "discriminative" else timegan_predictive
        its = (
            cfg.discriminative_iterations if name == "discriminative" else cfg.predictive_iterations
        )
        return probe(r, s, its, seed=seed, device=device)
    probe = {"lds": lds, "lps": lps, "lds-fast": lds_fast, "lps-fast": lps_fast}[name]
    its = cfg.lds_iterations if name.startswith("lds") else cfg.lps_iterations
    return probe(r, s, its, seed=seed, device=device)


# relative cost of one run (the longest go first, so the workers finish together); measured at
# L = 384 on 2 CPU cores (benchmarks/RESULTS.md, "Score variants"): published probes take hours
COST = {
    "lds": 1000.0,
    "lps": 600.0,
    "predictive": 4.0,
    "lps-fast": 1.6,
    "lds-fast": 1.4,
    "discriminative": 1.5,
    "context_fid": 1.0,
    "prdc": 1.0,
}


def _task(
    r: np.ndarray,
    s: np.ndarray,
    cfg: SuiteConfig,
    name: str,
    seed: int,
    with_prdc: bool,
    encoder: TS2VecEncoder | None,
) -> dict[str, Any]:
    """One run of one score; Context-FID / PRDC train their encoder unless it is given (the
    trained encoder is returned for the caller's cache), and PRDC rides along with the
    Context-FID run whose encoder it shares."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"name": name, "seed": seed}
    if name in ("context_fid", "prdc"):
        if encoder is None:
            # r is in the units every score sees (scaled by the suite, or native): as it is
            encoder = train_encoder(
                r, seed=seed, device=load_device(cfg.device), scale=False, **_fid_kw(cfg)
            )
            out["encoder"] = encoder
        if name == "context_fid":
            out["value"] = context_fid(r, s, encoder=encoder)
        if with_prdc or name == "prdc":
            t1 = time.perf_counter()
            out["prdc"] = prdc(embed_windows(encoder, r), embed_windows(encoder, s))
            out["prdc_seconds"] = time.perf_counter() - t1
    else:
        out["value"] = _probe(name, r, s, cfg, seed)
    out["seconds"] = time.perf_counter() - t0 - out.get("prdc_seconds", 0.0)
    return out


_WORKER: dict[str, Any] = {}  # a worker process's arrays and config (set once, by _start)


def _start(r: np.ndarray, s: np.ndarray, cfg: SuiteConfig, threads: int) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(r=r, s=s, cfg=cfg)


def _in_worker(task: tuple[str, int, bool, TS2VecEncoder | None]) -> dict[str, Any]:
    return _task(_WORKER["r"], _WORKER["s"], _WORKER["cfg"], *task)


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def score_suite(
    real: np.ndarray,
    synthetic: np.ndarray,
    cfg: SuiteConfig | None = None,
    train: np.ndarray | None = None,
    encoders: dict[tuple[int, str], TS2VecEncoder] | None = None,
) -> dict[str, Any]:
    """Every requested score of `synthetic` against `real`; `train` enables the memorisation check.

    Returns {metric: {"mean", "ci95", "values"}} for scalar scores, plus dicts for prdc and
    memorisation, the seconds each metric's runs took together under "seconds" (the sum over
    workers) and the wall-clock time under "wall_seconds". `encoders` ((seed, real-set digest)
    -> Context-FID encoder) may be passed in and is filled: scoring several synthetic sets
    against the same real set then trains each seed's encoder once (it depends only on those
    two). The probes run on `cfg.device` (default the CPU), in `cfg.workers` processes.
    """
    wall = time.perf_counter()
    cfg = cfg or SuiteConfig()
    device = load_device(cfg.device)
    check_pair(real, synthetic)
    r, s = real.astype(np.float64), synthetic.astype(np.float64)
    if cfg.normalise:
        r, s = normalise(r, s)
    encoders = {} if encoders is None else encoders
    digest = _digest(r, cfg, device) if {"context_fid", "prdc"} & set(cfg.metrics) else ""

    tasks: list[tuple[str, int, bool, TS2VecEncoder | None]] = []
    for name in cfg.metrics:
        if name in ("predictive", "lps", "lps-fast") and r.shape[2] < 2:
            continue  # they predict one feature from the others
        if name in STOCHASTIC:
            for k in range(cfg.repeats_of(name)):
                seed = cfg.seed + k
                with_prdc = name == "context_fid" and k == 0 and "prdc" in cfg.metrics
                tasks.append((name, seed, with_prdc, encoders.get((seed, digest))))
        elif name == "prdc" and "context_fid" not in cfg.metrics:
            tasks.append((name, cfg.seed, True, encoders.get((cfg.seed, digest))))
    tasks.sort(key=lambda t: -COST.get(t[0], 1.0))  # a stable sort: seeds stay in order

    cores = cpu_cores()
    auto = cores if device.type == "cpu" else 1
    workers = max(1, min(cfg.workers or auto, len(tasks)))
    if workers == 1:
        done = [_task(r, s, cfg, *t) for t in tasks]
    else:
        threads = max(1, cores // workers)
        with mp.get_context("spawn").Pool(workers, _start, (r, s, cfg, threads)) as pool:
            done = list(pool.imap_unordered(_in_worker, tasks))
            pool.close()
            pool.join()  # workers exit cleanly (no leaked semaphores at shutdown)

    out: dict[str, Any] = {"seconds": {}}
    for d in done:
        if "encoder" in d:
            encoders[(d["seed"], digest)] = d["encoder"]
        if "prdc" in d:
            out["prdc"] = d["prdc"]
            out["seconds"]["prdc"] = d["prdc_seconds"]
        if "value" in d:
            out["seconds"][d["name"]] = out["seconds"].get(d["name"], 0.0) + d["seconds"]
    for name in cfg.metrics:
        runs = sorted((d["seed"], d["value"]) for d in done if d["name"] == name and "value" in d)
        if runs:
            out[name] = mean_ci([v for _, v in runs])
        elif name == "correlational":
            # Diffusion-TS's protocol (5 draws of n / 5 windows), the whole-set score beside it
            t0 = time.perf_counter()
            out[name] = {
                **mean_ci(correlational_draws(r, s, cfg.seed)),
                "whole_sets": correlational_score(r, s),
            }
            out["seconds"][name] = time.perf_counter() - t0
        elif name == "memorisation" and train is not None:
            t0 = time.perf_counter()
            lo = real.min(axis=(0, 1))
            span = np.where(np.ptp(real, axis=(0, 1)) > 0, np.ptp(real, axis=(0, 1)), 1.0)
            # the training windows in the units r and s are in (scaled only if they are)
            seen = (train - lo) / span if cfg.normalise else np.asarray(train, dtype=np.float64)
            out[name] = memorisation_check(seen, r, s)
            out["seconds"][name] = time.perf_counter() - t0
    out["wall_seconds"] = time.perf_counter() - wall
    out["workers"] = workers
    return out


def _digest(x: np.ndarray, cfg: SuiteConfig, device: torch.device) -> str:
    h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    h.update(repr((x.shape, cfg.fid_iterations, "swa-from-init", "unscaled")).encode())
    if device.type != "cpu":  # an encoder trained elsewhere differs in rounding
        h.update(str(device).encode())
    return h.hexdigest()


def _fid_kw(cfg: SuiteConfig) -> dict[str, int]:
    return {} if cfg.fid_iterations is None else {"iterations": cfg.fid_iterations}
