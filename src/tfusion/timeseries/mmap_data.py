"""A memory-mapped .npy series larger than memory (data.mmap=true)."""

from __future__ import annotations

import numpy as np

from tfusion.data.builtin import BUILTIN
from tfusion.data.readers import first_line, resolve_path
from tfusion.data.scalers import Scaler
from tfusion.data.windows import check_window, make_windows, split_random, split_time
from tfusion.errors import ConfigError, DataError
from tfusion.timeseries.config import DataConfig
from tfusion.timeseries.prepared import Prepared

MMAP_CHUNK = 1 << 20  # rows read at a time when scanning a memory-mapped series


def prepare_mmap(cfg: DataConfig) -> Prepared:
    """The pipeline for a memory-mapped .npy series larger than memory.

    The file is never loaded whole: NaN/inf are checked and the scaler is fitted in chunks of
    rows, windows are views of the map, and each batch is scaled when it is gathered. The
    scaler is fitted on the training rows (time split) or on all rows (random split and none,
    where training windows cover almost every row).
    """
    unsupported = {
        "data.columns": cfg.columns is not None,
        "data.missing_values": bool(cfg.missing_values),
        "data.max_missing": cfg.max_missing < 1.0,
        "data.max_gap": cfg.max_gap is not None,
    }
    for key, used in unsupported.items():
        if used:
            raise ConfigError(f"{key} is not supported with data.mmap=true; prepare the .npy first")
    path = resolve_path(cfg.source, tuple(BUILTIN))
    if path.suffix.lower() != ".npy":
        raise ConfigError(
            f"data.mmap=true needs a .npy file, got {path.name}; save it with numpy.save"
        )
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # garbage: ValueError, OSError, ...
        raise DataError(
            f"cannot memory-map {path} ({first_line(e)}); save it with numpy.save"
        ) from e
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 3:
        raise ConfigError(
            f"{path} holds (N, L, C) sequences {arr.shape}; data.mmap=true maps one long series "
            "(N, C): load the sequences without data.mmap"
        )
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise DataError(f"{path} holds {arr.dtype} {arr.shape}; expected real numbers (N, C)")
    for i in range(0, len(arr), MMAP_CHUNK):
        bad = ~np.isfinite(arr[i : i + MMAP_CHUNK])
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise DataError(
                f"{path} holds {arr[i + r, c]} at row {i + r}, column {c}; a memory-mapped "
                "series must be complete: fill the gaps or load it without data.mmap"
            )
    if cfg.reverse:
        arr = arr[::-1]
    check_window(cfg.window, len(arr))
    if cfg.split == "time":
        train, test = split_time(arr, cfg.window, cfg.stride, cfg.test_fraction)
        fit_rows = arr[: int(train.starts.max()) + cfg.window] if len(train) else arr
    else:
        everything = make_windows(arr, cfg.window, cfg.stride)
        if cfg.split == "random":
            train, test = split_random(everything, cfg.test_fraction, cfg.seed)
        else:
            train = test = everything
        fit_rows = arr
    scaler = Scaler.fit_chunked(fit_rows, cfg.scaler, MMAP_CHUNK)

    def scale(batch: np.ndarray) -> np.ndarray:
        return scaler.transform(np.asarray(batch, dtype=np.float64)).astype(np.float32)

    train = train.with_transform(scale)
    test = train if test is train else test.with_transform(scale)
    columns = tuple(str(j) for j in range(arr.shape[1]))
    notice = f"memory-mapped {path.name}: {arr.shape[0]} rows x {arr.shape[1]} columns"
    return Prepared(train, test, scaler, columns, (notice,), cfg, len(arr))
