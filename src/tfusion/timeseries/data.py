"""The time-series data pipeline: `DataConfig` -> scaled train/test windows + saved state.

load (or generate the built-in sines) -> split (random over windows with seed, time, or none:
test = train) -> fit the scaler on what the training windows see -> scale to float32 -> windows.

Time direction: with `data.reverse` the model sees the reversed series, and `Prepared.inverse`
only undoes the scaling; generated samples stay in the model's (reversed) time direction, as in
TimeGAN and TransFusion, so they compare directly with `train` and `test`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from tfusion.data.builtin import BUILTIN, sine_windows
from tfusion.data.panels import load_sequences
from tfusion.data.readers import resolve_path
from tfusion.data.scalers import KINDS
from tfusion.data.sequence_files import read_sequences
from tfusion.data.tables import Table, load_table
from tfusion.data.windows import Windows, make_windows, split_random, split_time
from tfusion.errors import ConfigError
from tfusion.timeseries.config import SPLITS, DataConfig
from tfusion.timeseries.mmap_data import prepare_mmap
from tfusion.timeseries.panel_data import one_series_entity_split, prepare_panel
from tfusion.timeseries.prepared import (
    Prepared,
    class_ids,
    keep_windows,
    scale_parts,
    window_filters,
)

__all__ = ["Prepared", "prepare"]


def prepare(cfg: DataConfig, frame: pd.DataFrame | None = None) -> Prepared:
    """Run the whole data pipeline for `cfg` (on `frame` instead of cfg.source when given)."""
    if cfg.split not in SPLITS:
        raise ConfigError(f"unknown data.split {cfg.split!r}; choose one of {SPLITS}")
    if cfg.scaler not in KINDS:
        raise ConfigError(f"unknown data.scaler {cfg.scaler!r}; choose one of {KINDS}")
    if cfg.mmap:
        for key in ("label", "entity", "time"):
            if getattr(cfg, key) is not None:
                raise ConfigError(f"data.{key} is not supported with data.mmap=true; unset it")
        return prepare_mmap(cfg)
    source = cfg.source
    classes: tuple[str, ...] = ()
    step_classes = None
    filters: list[tuple[np.ndarray, int, str, str]] = []
    if source in BUILTIN and BUILTIN[source].kind == "windows":
        if cfg.columns is not None:
            raise ConfigError(f"data.columns does not apply to the built-in {source!r}; unset it")
        if cfg.split in ("time", "entity"):
            raise ConfigError(
                f"built-in {source!r} windows are independent, there is no time axis to cut "
                "and no entity to hold out; use data.split=random or none"
            )
        if cfg.label is not None:
            raise ConfigError(f"data.label does not apply to the built-in {source!r}; unset it")
        raw = sine_windows(cfg.sine_samples, cfg.window, cfg.sine_features, cfg.seed)
        if cfg.reverse:
            raw = np.ascontiguousarray(raw[:, ::-1])
        everything = Windows(raw)
        columns = tuple(f"sine_{j}" for j in range(cfg.sine_features))
        notices: tuple[str, ...] = ()
        rows = None
    else:
        if cfg.max_gap is not None and (cfg.missing != "interpolate" or cfg.max_gap < 0):
            raise ConfigError(
                f"data.max_gap={cfg.max_gap} needs data.missing=interpolate and a gap length "
                ">= 0 (0: leave out every window with a filled value); or unset it"
            )
        table, layout = _load(cfg, frame)
        raw, columns, notices, rows = table.values, table.columns, table.notices, len(table.values)
        if table.bounds is not None or table.codes is not None:
            if table.bounds is None:  # a single series with categorical channels
                table = replace(table, bounds=np.asarray([0, len(table.values)], dtype=np.int64))
            return prepare_panel(cfg, table, layout)
        if cfg.split == "entity":
            raise ConfigError(one_series_entity_split(cfg.source))
        everything = None if cfg.split == "time" else make_windows(raw, cfg.window, cfg.stride)
        long_gaps = None if cfg.max_gap is None else table.long_gaps(cfg.max_gap)
        if table.labels is not None:
            classes, step_classes = class_ids(table.labels)
        filters = window_filters(long_gaps, cfg.max_gap, step_classes)
        if everything is not None and filters:
            kept = [*notices]
            for f in filters:
                everything = keep_windows(everything, *f, kept)
            notices = tuple(kept)

    if cfg.split == "time":
        train, test = split_time(raw, cfg.window, cfg.stride, cfg.test_fraction)
        if filters:
            kept = [*notices]
            for f in filters:
                train = keep_windows(train, *f, kept)
                test = keep_windows(test, *f, kept)
            notices = tuple(kept)
    elif cfg.split == "random":
        train, test = split_random(everything, cfg.test_fraction, cfg.seed)
    else:
        train = test = everything
    scaler, train_scaled, test_scaled = scale_parts(cfg, raw, columns, train, test)
    return Prepared(
        train_scaled, test_scaled, scaler, columns, notices, cfg, rows, classes, step_classes
    )


def _load(cfg: DataConfig, frame: pd.DataFrame | None = None) -> tuple[Table, str]:
    """The checked table of `cfg.source` and its layout: (N, L, C) sequences of a .npy/.npz
    ("windows"), a long-format table with data.entity ("entities"), or one series."""
    seq = None
    if (
        frame is None
        and cfg.source not in BUILTIN
        and Path(cfg.source).suffix.lower() in (".npy", ".npz")
    ):
        seq = read_sequences(resolve_path(cfg.source, tuple(BUILTIN)))
    if seq is not None:
        for key in ("entity", "time"):
            if getattr(cfg, key) is not None:
                raise ConfigError(
                    f"data.{key} does not apply to {seq.label}: its (N, L, C) sequences are "
                    f"already separate and in time order; unset data.{key}"
                )
        table = load_sequences(
            seq,
            cfg.columns,
            cfg.missing,
            cfg.missing_values,
            cfg.reverse,
            cfg.label,
            cfg.max_missing,
            cfg.static,
            cfg.categorical,
        )
        return table, "windows"
    if cfg.whole and cfg.entity is None:
        raise ConfigError(
            "data.whole=true trains whole sequences: give data.entity=COLUMN (a long-format "
            "table) or (N, L, C) sequences in a .npy/.npz"
        )
    table = load_table(
        cfg.source if frame is None else frame,
        cfg.columns,
        cfg.missing,
        cfg.missing_values,
        cfg.reverse,
        cfg.label,
        cfg.max_missing,
        cfg.entity,
        cfg.time,
        cfg.static,
        cfg.categorical,
    )
    return table, "entities" if cfg.entity is not None else "series"
