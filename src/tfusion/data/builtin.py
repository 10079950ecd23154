"""Built-in data sets, usable by name as `data.source`: `goog` (a table) and `sine` (windows).

`goog` is the Google daily price table shipped with the `bokeh-sampledata` package (no download
at run time), in the column layout of TimeGAN's "Stocks" set. `sine` is the synthetic set of
TimeGAN and Diffusion-TS, generated directly as windows (n, L, C): there is no underlying series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tfusion.errors import DataError

GOOG_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")  # TimeGAN "Stocks" order


@dataclass(frozen=True)
class BuiltinData:
    """A named data set: a `table` (loaded like a file) or `windows` (generated (n, L, C))."""

    kind: str
    description: str


BUILTIN: dict[str, BuiltinData] = {
    "goog": BuiltinData(
        "table",
        "Google daily prices 2004-08-19..2013-03-01, 2148 rows x 6 "
        "(open, high, low, close, adj_close, volume), from bokeh-sampledata",
    ),
    "sine": BuiltinData(
        "windows",
        "TimeGAN sines: sin(f t + p), f and p ~ U(0, 0.1) per window and feature, in [0, 1]; "
        "data.sine_samples windows of data.window x data.sine_features",
    ),
}


def list_builtin() -> list[tuple[str, str]]:
    """(name, one-line description) of every built-in data set, for `tfusion info`."""
    return [(name, f"[{d.kind}] {d.description}") for name, d in BUILTIN.items()]


def goog_frame() -> pd.DataFrame:
    """The `goog` table, oldest day first, columns open, high, low, close, adj_close, volume."""
    try:
        from bokeh_sampledata.stocks import GOOG
    except ImportError as e:
        raise DataError(
            "built-in data set 'goog' needs the bokeh-sampledata package; "
            "pip install bokeh-sampledata"
        ) from e
    return pd.DataFrame({name: np.asarray(GOOG[name], dtype=np.float64) for name in GOOG_COLUMNS})


def sine_windows(n: int, length: int, features: int, seed: int) -> np.ndarray:
    """(n, L, C) float64 sines in [0, 1]: x_t = (sin(f t + p) + 1) / 2, f, p ~ U(0, 0.1)."""
    for value, key in ((n, "data.sine_samples"), (length, "data.window")):
        if value < 1:
            raise DataError(f"{key} must be at least 1 for the sine data set, got {value}")
    if features < 1:
        raise DataError(f"data.sine_features must be at least 1, got {features}")
    rng = np.random.default_rng(seed)
    # one frequency and one phase per (window, feature), as in TimeGAN's sine_data_generation
    freq = rng.uniform(0.0, 0.1, size=(n, 1, features))
    phase = rng.uniform(0.0, 0.1, size=(n, 1, features))
    t = np.arange(length, dtype=np.float64)[None, :, None]  # (1, L, 1)
    return (np.sin(freq * t + phase) + 1.0) / 2.0  # (n, L, C)
