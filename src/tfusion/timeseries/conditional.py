"""Imputation and forecasting with an unconditional time-series model, by replacement.

The model was trained on whole windows. To fill the missing entries of a window, sampling runs as
usual and after every step the observed entries are reset to their values noised to the current
time (`sample_loop(known=...)`), so the generated part is drawn conditioned on them. The point
estimate is the mean of `samples` draws (the posterior mean minimises squared error); observed
entries are returned exactly as given.

A forecast is an imputation whose missing part is the future: the last L - h observed steps plus
h empty ones (a history shorter than L - h leaves the window's start empty too), rolled forward
h steps at a time until the horizon is reached. Series and forecasts run forward in time; a run
trained with data.reverse sees them reversed, as it was trained.
Shapes: N time steps, C features, L the run's window length, n windows, S samples.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from tfusion.diffusion import row_generators, sample_loop
from tfusion.errors import DataError
from tfusion.timeseries.sample import TimeSeriesRun


def impute_windows(
    run: TimeSeriesRun,
    windows: np.ndarray,
    samples: int = 5,
    sampler: str = "ddpm",
    steps: int | None = 100,
    seed: int = 0,
    batch_size: int = 256,
    resample: int = 5,
) -> np.ndarray:
    """Windows (n, L, C) in original units with NaN where missing -> the same, filled. The
    windows run in the model's time direction (as `prepare` makes them: reversed under
    data.reverse); `impute_series` and `forecast` take series forward in time.

    Defaults: DDPM with 100 steps, each repeated `resample` = 5 times (RePaint), the mean of
    `samples` = 5 draws. With `resample=1` any sampler works (plain replacement, biased toward
    the unconditional distribution; see `sample_loop`).
    """
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != len(run.columns):
        raise DataError(
            f"windows must be (n, L, {len(run.columns)}) for this run's columns, got {x.shape}"
        )
    if samples < 1:
        raise DataError(f"samples must be at least 1, got {samples}")
    missing = np.isnan(x)
    if np.isinf(x).any():
        raise DataError("the input holds infinite values; blank them to have them imputed")
    if not missing.any():
        return x.copy()
    # the run's eta and clip; the sampler and steps of this call, on the uniform grid
    settings = replace(run.settings(), sampler=sampler, steps=steps, spacing="uniform")
    scaled = run.scaler.transform(np.nan_to_num(x))  # NaN entries are never used
    out = x.copy()
    rows = np.flatnonzero(missing.any(axis=(1, 2)))  # only windows with a gap are sampled
    per = max(1, batch_size // samples)
    for i in range(0, len(rows), per):
        idx = rows[i : i + per]
        known = torch.from_numpy(~missing[idx]).repeat_interleave(samples, dim=0)
        values = torch.from_numpy(scaled[idx].astype(np.float32)).repeat_interleave(samples, 0)
        draw = sample_loop(
            run.model,
            tuple(values.shape),
            run.schedule,
            run.objective.prediction,
            settings,
            # draw s of window w from its own stream: the same imputation at any batch size
            generator=row_generators(seed + w * samples + k for w in idx for k in range(samples)),
            known=(known, values),
            resample=resample,
            device=run.device,
        )
        draws = run.scaler.inverse_transform(draw.cpu().double().numpy())  # (b * S, L, C)
        mean = draws.reshape(len(idx), samples, *draws.shape[1:]).mean(axis=1)
        out[idx] = np.where(missing[idx], mean, x[idx])
    return out


def impute_series(run: TimeSeriesRun, series: np.ndarray, **kw: object) -> np.ndarray:
    """A series (N, C) with NaN gaps -> filled; windows of L cover it (the last one ends at N)."""
    x = np.asarray(series, dtype=np.float64)
    length = run.window
    if x.ndim != 2 or x.shape[1] != len(run.columns):
        raise DataError(f"the series must be (N, {len(run.columns)}), got shape {x.shape}")
    if len(x) < length:
        raise DataError(
            f"the series has {len(x)} steps, fewer than the run's window {length}; "
            "pass a longer series"
        )
    starts = list(range(0, len(x) - length + 1, length))
    if starts[-1] + length < len(x):
        starts.append(len(x) - length)
    windows = np.stack([x[s : s + length] for s in starts])
    filled = _impute_forward(run, windows, **kw)
    out = x.copy()
    for s, w in zip(starts, filled, strict=True):
        part = out[s : s + length]
        gap = np.isnan(part)
        part[gap] = w[gap]  # an overlap keeps the first window's values
    return out


def forecast(
    run: TimeSeriesRun,
    history: np.ndarray,
    horizon: int,
    context: float = 0.5,
    samples: int = 5,
    seed: int = 0,
    **kw: object,
) -> np.ndarray:
    """The next `horizon` steps (H, C) after a complete history (N, C).

    Each round keeps at least `context` x L observed steps in the window and forecasts the rest.
    """
    x = np.asarray(history, dtype=np.float64)
    length = run.window
    if horizon < 1:
        raise DataError(f"--horizon must be at least 1, got {horizon}")
    if x.ndim != 2 or x.shape[1] != len(run.columns):
        raise DataError(f"the history must be (N, {len(run.columns)}), got shape {x.shape}")
    if np.isnan(x).any():
        raise DataError("the history has missing values; impute it first (tfusion impute)")
    keep = max(1, round(length * context))
    if keep >= length:
        raise DataError(f"context {context} leaves no step to forecast in a window of {length}")
    if len(x) < keep:
        raise DataError(
            f"the history has {len(x)} steps; forecasting with this run needs at least {keep}"
        )
    path = x
    while len(path) < len(x) + horizon:
        h = min(length - keep, len(x) + horizon - len(path))
        seen = path[-(length - h) :]  # a short history leaves the window's start unknown too
        unknown = np.full((length, x.shape[1]), np.nan)
        window = np.concatenate([unknown[: length - h - len(seen)], seen, unknown[:h]])[None]
        # each round draws from streams of its own (the same ones would repeat the last
        # round's noise, and the forecast with it, every L - context steps)
        done = len(path) - len(x)
        filled = _impute_forward(run, window, samples=samples, seed=seed + done * samples, **kw)[0]
        path = np.concatenate([path, filled[-h:]])
    return path[len(x) :]


def _impute_forward(run: TimeSeriesRun, windows: np.ndarray, **kw: object) -> np.ndarray:
    """impute_windows on windows (n, L, C) that run forward in time: a run trained with
    data.reverse sees them reversed, as it was trained (its forecast is its window's start)."""
    if not run.cfg.data.reverse:
        return impute_windows(run, windows, **kw)  # type: ignore[arg-type]
    return impute_windows(run, windows[:, ::-1], **kw)[:, ::-1]  # type: ignore[arg-type]
