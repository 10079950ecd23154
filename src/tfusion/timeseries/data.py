"""The time-series data pipeline: `DataConfig` -> scaled train/test windows + saved state.

load (or generate the built-in sines) -> split (random over windows with seed, time, or none:
test = train) -> fit the scaler on what the training windows see -> scale to float32 -> windows.

Time direction: with `data.reverse` the model sees the reversed series, and `Prepared.inverse`
only undoes the scaling; generated samples stay in the model's (reversed) time direction, as in
TimeGAN and TransFusion, so they compare directly with `train` and `test`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfusion.data.builtin import BUILTIN, sine_windows
from tfusion.data.codec import PanelCodec, fit_attributes
from tfusion.data.panels import load_sequences
from tfusion.data.readers import first_line, read_sequences, resolve_path
from tfusion.data.scalers import KINDS, Scaler
from tfusion.data.tables import Table, load_table
from tfusion.data.windows import (
    Windows,
    check_window,
    make_windows,
    segment_of,
    segment_windows,
    split_groups,
    split_random,
    split_time,
    split_time_segments,
)
from tfusion.errors import ConfigError, DataError
from tfusion.timeseries.config import SPLITS, DataConfig


@dataclass(frozen=True, eq=False)
class Prepared:
    """Scaled float32 train/test windows, the fitted scaler and what produced them."""

    train: Windows
    test: Windows
    scaler: Scaler
    columns: tuple[str, ...]
    notices: tuple[str, ...]
    config: DataConfig
    rows: int | None  # length N of the series, None for generated windows
    classes: tuple[str, ...] = ()  # data.label: the class names, index = class id
    step_classes: np.ndarray | None = None  # (N,) int64 class id of every time step
    # series (one long series) | entities (long-format table) | windows ((N, L, C) sequences)
    layout: str = "series"
    panel: dict[str, Any] = field(default_factory=dict)  # what `state` records of the layout
    # panels with categories, attributes or whole sequences (None: plain numeric windows)
    codec: PanelCodec | None = None
    train_attrs: np.ndarray | None = None  # (n_train, A) attribute vector of each window
    test_attrs: np.ndarray | None = None
    train_lengths: np.ndarray | None = None  # data.whole: (n_train,) true length of each
    test_lengths: np.ndarray | None = None
    test_attributes: pd.DataFrame | None = None  # the held-out entities' attribute rows
    train_attr_rows: np.ndarray | None = None  # (entities, A) one vector per training entity

    def labels(self, windows: Windows) -> np.ndarray:
        """The class id of each window (a window lies inside one label's stretch)."""
        if self.step_classes is None:
            raise ConfigError("this data has no labels; set data.label to a column of classes")
        return self.step_classes[windows.starts]

    @property
    def window(self) -> int:
        """Window length L."""
        return self.train.length

    @property
    def features(self) -> int:
        """Number of features C."""
        return self.train.features

    def inverse(self, x_scaled: np.ndarray) -> np.ndarray:
        """Scaled values (..., C) back to original units (time direction unchanged)."""
        return self.scaler.inverse_transform(x_scaled)

    def state(self) -> dict[str, Any]:
        """A JSON-safe description, saved as `data_state.json` next to a run."""
        cfg = self.config
        return {
            "source": cfg.source,
            "columns": list(self.columns),
            "features": self.features,
            "window": self.window,
            "stride": cfg.stride,
            "reverse": cfg.reverse,
            "max_missing": cfg.max_missing,
            "max_gap": cfg.max_gap,
            "split": cfg.split,
            "test_fraction": cfg.test_fraction,
            "seed": cfg.seed,
            "rows": self.rows,
            "windows": {"train": len(self.train), "test": len(self.test)},
            "scaler": self.scaler.to_dict(),
            "notices": list(self.notices),
            "classes": list(self.classes),
            "layout": self.layout,
            "entity": cfg.entity,
            "time": cfg.time,
            **self.panel,
            **({} if self.codec is None else {"codec": self.codec.to_dict()}),
        }


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
        return _prepare_mmap(cfg)
    source = cfg.source
    classes: tuple[str, ...] = ()
    step_classes = None
    filters: list[tuple[np.ndarray, int, str, str]] = []
    if source in BUILTIN and BUILTIN[source].kind == "windows":
        if cfg.columns is not None:
            raise ConfigError(f"data.columns does not apply to the built-in {source!r}; unset it")
        if cfg.split == "time":
            raise ConfigError(
                f"built-in {source!r} windows are independent, there is no time axis to cut; "
                "use data.split=random or none"
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
            return _prepare_panel(cfg, table, layout)
        everything = None if cfg.split == "time" else make_windows(raw, cfg.window, cfg.stride)
        long_gaps = None if cfg.max_gap is None else table.long_gaps(cfg.max_gap)
        if table.labels is not None:
            classes, step_classes = _classes(table.labels)
        filters = _window_filters(long_gaps, cfg.max_gap, step_classes)
        if everything is not None and filters:
            kept = [*notices]
            for f in filters:
                everything = _keep_windows(everything, *f, kept)
            notices = tuple(kept)

    if cfg.split == "time":
        train, test = split_time(raw, cfg.window, cfg.stride, cfg.test_fraction)
        if filters:
            kept = [*notices]
            for f in filters:
                train = _keep_windows(train, *f, kept)
                test = _keep_windows(test, *f, kept)
            notices = tuple(kept)
    elif cfg.split == "random":
        train, test = split_random(everything, cfg.test_fraction, cfg.seed)
    else:
        train = test = everything
    scaler, train_scaled, test_scaled = _scale(cfg, raw, columns, train, test)
    return Prepared(
        train_scaled, test_scaled, scaler, columns, notices, cfg, rows, classes, step_classes
    )


def _scale(
    cfg: DataConfig, raw: np.ndarray, columns: tuple[str, ...], train: Windows, test: Windows
) -> tuple[Scaler, Windows, Windows]:
    """The scaler fitted on what the training windows see, and both parts scaled to float32."""
    # fitted on the training part only, so no test statistic leaks into the model's inputs
    scaler = Scaler.fit(train.covered_values(), cfg.scaler)
    with np.errstate(over="ignore"):
        scaled = scaler.transform(raw).astype(np.float32)
    if not np.isfinite(scaled).all():
        j = int(np.flatnonzero(~np.isfinite(scaled).all(axis=0))[0])
        raise DataError(
            f"column {columns[j]!r} leaves the float32 range once scaled (data.scaler="
            f"{cfg.scaler}); use data.scaler=minmax or standard, or rescale the column"
        )
    train_scaled = train.with_data(scaled)
    test_scaled = train_scaled if test is train else test.with_data(scaled)
    return scaler, train_scaled, test_scaled


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


def _prepare_panel(cfg: DataConfig, table: Table, layout: str) -> Prepared:
    """Windows of many sequences (one per entity, or per (N, L, C) row), never across two."""
    raw, bounds, columns = table.values, table.bounds, table.columns
    notices = [*table.notices]
    lengths = np.diff(bounds)
    codec = None
    if table.codes is not None or table.attributes is not None or cfg.whole:
        if cfg.label is not None and cfg.whole:
            raise ConfigError(
                "data.label does not apply with data.whole=true; list the label column in "
                "data.static and data.categorical to condition on it"
            )
        categorical = tuple(zip(table.categorical, table.levels))
        codec = PanelCodec(columns, categorical, kinds=table.kinds, schema=table.schema)
        if table.codes is not None:
            raw = np.concatenate([raw, codec.one_hot(table.codes)], axis=1)
            columns = codec.feature_columns
    if cfg.whole:
        return _prepare_whole(cfg, table, layout, raw, columns, codec, notices)
    what = "sequences" if layout == "windows" else "entities" if cfg.entity else "series"
    if (
        layout == "windows"
        and not cfg.whole
        and (lengths == lengths[0]).all()
        and cfg.window > lengths[0]
    ):
        raise DataError(
            f"the sequences of {cfg.source} have {lengths[0]} time steps, fewer than "
            f"data.window={cfg.window}; lower data.window to at most {lengths[0]}"
        )
    if layout == "windows" and cfg.split == "time":
        raise ConfigError(
            f"the (N, L, C) sequences of {cfg.source} are independent, there is no time axis "
            "to cut across them; use data.split=random or none"
        )
    short = lengths < cfg.window
    if short.any() and not short.all():
        notices.append(
            f"left out {int(short.sum())} of {len(lengths)} {what} shorter than "
            f"data.window={cfg.window}"
        )
    if short.all():
        raise DataError(
            f"every one of the {len(lengths)} {what} of {cfg.source} is shorter than "
            f"data.window={cfg.window} (the longest has {int(lengths.max())} time steps); "
            f"lower data.window to at most {int(lengths.max())}"
        )
    classes: tuple[str, ...] = ()
    step_classes = None
    if table.labels is not None:
        classes, step_classes = _classes(table.labels)
    long_gaps = None if cfg.max_gap is None else table.long_gaps(cfg.max_gap)
    filters = _window_filters(long_gaps, cfg.max_gap, step_classes)
    if cfg.split == "time":
        train, test = split_time_segments(raw, bounds, cfg.window, cfg.stride, cfg.test_fraction)
        for f in filters:
            train = _keep_windows(train, *f, notices)
            test = _keep_windows(test, *f, notices)
    else:
        everything = segment_windows(raw, bounds, cfg.window, cfg.stride)
        for f in filters:
            everything = _keep_windows(everything, *f, notices)
        if cfg.split == "none":
            train = test = everything
        elif layout == "windows":  # over sequences: no sequence lends windows to both parts
            groups = segment_of(bounds, everything.starts)
            train, test = split_groups(everything, groups, cfg.test_fraction, cfg.seed)
        else:
            train, test = split_random(everything, cfg.test_fraction, cfg.seed)
    scaler, train_scaled, test_scaled = _scale(cfg, raw, columns, train, test)
    if layout == "windows":
        panel: dict[str, Any] = {"sequences": len(lengths), "sequence_length": int(lengths.max())}
    else:
        kept = [name for name, n in zip(table.entities, lengths) if n >= cfg.window]
        panel = {"frequency": table.frequency}
        if cfg.entity is not None:
            panel["entities"] = {"count": len(lengths), "kept": kept}
        if table.starts is not None:  # what regenerating the time column needs (sample output)
            long_enough = lengths >= cfg.window
            panel["time_kind"] = table.time_kind
            panel["time_step"] = table.step
            cast = int if table.time_kind == "datetime" else float  # ns since 1970 stay exact
            panel["start_times"] = [cast(v) for v in table.starts[long_enough]]
    train_attrs = test_attrs = test_attributes = attr_rows = None
    if codec is not None and table.attributes is not None:
        # levels and ranges of the entities that have windows (a level only a left-out entity
        # has is never learned, so it is not offered)
        kept = np.flatnonzero(lengths >= cfg.window)
        kept_rows = table.attributes.iloc[kept]
        codec = replace(codec, attributes=fit_attributes(kept_rows, table.kinds))
        everyone = np.zeros((len(lengths), codec.attribute_dim), dtype=np.float32)
        everyone[kept] = codec.encode_attributes(kept_rows)
        train_attrs = everyone[segment_of(bounds, train_scaled.starts)]
        test_attrs = everyone[segment_of(bounds, test_scaled.starts)]
        held = np.unique(segment_of(bounds, test_scaled.starts))
        test_attributes = table.attributes.iloc[held].reset_index(drop=True)
        attr_rows = everyone[np.unique(segment_of(bounds, train_scaled.starts))]
    return Prepared(
        train_scaled,
        test_scaled,
        scaler,
        columns,
        tuple(notices),
        cfg,
        len(raw),
        classes,
        step_classes,
        layout,
        panel,
        codec,
        train_attrs,
        test_attrs,
        test_attributes=test_attributes,
        train_attr_rows=attr_rows,
    )


def _prepare_whole(
    cfg: DataConfig,
    table: Table,
    layout: str,
    raw: np.ndarray,
    columns: tuple[str, ...],
    codec: PanelCodec,
    notices: list[str],
) -> Prepared:
    """Whole sequences (data.whole): each entity one sequence, padded with zeros (in scaled
    units) to the longest; the true lengths go with them (the loss and attention are masked)
    and into the attribute vector, so lengths are learned with the attributes."""
    bounds = table.bounds
    assert bounds is not None
    lengths = np.diff(bounds)
    what = "sequences" if layout == "windows" else "entities"
    idx = np.flatnonzero(lengths >= MIN_WHOLE)
    if len(idx) < len(lengths):
        notices.append(
            f"left out {len(lengths) - len(idx)} of {len(lengths)} {what} with fewer than "
            f"{MIN_WHOLE} time steps"
        )
    if len(idx) < 2:
        raise DataError(
            f"{cfg.source} has {len(idx)} {what} of at least {MIN_WHOLE} time steps; "
            "data.whole=true needs at least 2"
        )
    if cfg.split == "none":
        tr = te = np.arange(len(idx))
    else:
        n_test = round(len(idx) * cfg.test_fraction)
        if n_test < 1 or n_test >= len(idx):
            raise DataError(
                f"{len(idx)} {what} cannot be split with data.test_fraction="
                f"{cfg.test_fraction}; use more {what}, change it, or data.split=none"
            )
        order = np.random.default_rng(cfg.seed).permutation(len(idx))
        tr, te = np.sort(order[: len(idx) - n_test]), np.sort(order[len(idx) - n_test :])
    train_seq = np.zeros(len(lengths), dtype=bool)
    train_seq[idx[tr]] = True
    scaler = Scaler.fit_chunked(
        _Rows(raw, np.flatnonzero(np.repeat(train_seq, lengths))), cfg.scaler
    )
    kept_len = lengths[idx]
    longest = int(kept_len.max())
    padded = np.zeros((len(idx), longest, raw.shape[1]), dtype=np.float32)
    for pos, k in enumerate(idx):  # scaled sequence by sequence: no scaled copy of the table
        with np.errstate(over="ignore"):
            padded[pos, : kept_len[pos]] = scaler.transform(raw[bounds[k] : bounds[k + 1]])
    if not np.isfinite(padded).all():
        j = int(np.flatnonzero(~np.isfinite(padded).all(axis=(0, 1)))[0])
        raise DataError(
            f"column {columns[j]!r} leaves the float32 range once scaled (data.scaler="
            f"{cfg.scaler}); use data.scaler=minmax or standard, or rescale the column"
        )
    attrs = None
    if table.attributes is not None:
        attrs = table.attributes.iloc[idx].reset_index(drop=True)
    codec = replace(
        codec,
        attributes=() if attrs is None else fit_attributes(attrs, table.kinds),
        lengths=(int(kept_len.min()), longest),
    )
    vectors = codec.encode_attributes(attrs, kept_len)
    train, test = Windows(padded, starts=tr), Windows(padded, starts=te)
    panel: dict[str, Any] = {
        "sequences": len(idx),
        "lengths": {"min": int(kept_len.min()), "max": longest, "mean": float(kept_len.mean())},
        "frequency": table.frequency,
    }
    if cfg.entity is not None:
        panel["entities"] = {
            "count": len(lengths),
            "kept": [table.entities[k] for k in idx],
        }
    if table.starts is not None:
        cast = int if table.time_kind == "datetime" else float
        panel["time_kind"] = table.time_kind
        panel["time_step"] = table.step
        panel["start_times"] = [cast(v) for v in table.starts[idx]]
    return Prepared(
        train,
        test,
        scaler,
        columns,
        tuple(notices),
        cfg,
        len(raw),
        layout=layout,
        panel=panel,
        codec=codec,
        train_attrs=vectors[tr],
        test_attrs=vectors[te],
        train_lengths=kept_len[tr],
        test_lengths=kept_len[te],
        test_attributes=None if attrs is None else attrs.iloc[te].reset_index(drop=True),
        train_attr_rows=vectors[tr],
    )


class _Rows:
    """Rows `index` of a table (M, C), gathered a chunk at a time (`Scaler.fit_chunked`), so
    fitting on the training entities does not copy them."""

    def __init__(self, data: np.ndarray, index: np.ndarray) -> None:
        self.data, self.index = data, index
        self.ndim, self.shape = 2, (len(index), data.shape[1])

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows: slice) -> np.ndarray:
        return self.data[self.index[rows]]


def _classes(labels: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names (numeric labels in numeric order, others alphabetical) and per-step ids."""
    names = sorted(set(labels.tolist()))
    if all(_is_float(n) for n in names):
        names = sorted(names, key=float)
    index = {name: i for i, name in enumerate(names)}
    return tuple(names), np.fromiter((index[v] for v in labels), np.int64, len(labels))


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _keep_windows(
    windows: Windows, flags: np.ndarray, first: int, why: str, error: str, notices: list[str]
) -> Windows:
    """Only the windows with no flagged time step among their steps `first`..L-1; notes how
    many were left out (`why` says what they held) and raises `error` when none is left."""
    before = np.concatenate([[0], np.cumsum(flags)])
    s = windows.starts
    keep = before[s + windows.length] == before[s + first]
    if not keep.all():
        notices.append(f"left out {int((~keep).sum())} of {len(keep)} windows {why}")
    if not keep.any():
        raise DataError(error)
    return windows.subset(np.flatnonzero(keep))


def _window_filters(
    long_gaps: np.ndarray | None, max_gap: int | None, step_classes: np.ndarray | None
) -> list[tuple[np.ndarray, int, str, str]]:
    """What leaves a window out: a filled gap longer than data.max_gap anywhere in it, or a
    label change inside it (a window across one has no single class)."""
    filters = []
    if long_gaps is not None:
        filters.append(
            (
                long_gaps,
                0,
                f"holding a filled gap longer than {max_gap} steps (data.max_gap)",
                f"every window holds a filled gap longer than {max_gap} steps; raise "
                "data.max_gap, lower data.window or drop mostly-missing columns with "
                "data.max_missing",
            )
        )
    if step_classes is not None:
        changed = np.concatenate([[False], step_classes[1:] != step_classes[:-1]])
        filters.append(
            (
                changed,
                1,  # a change at a window's first step is not inside it
                "that cross a label change",
                "every window crosses a label change; lower data.window below the length of "
                "the labelled stretches",
            )
        )
    return filters


MIN_WHOLE = 2  # data.whole: sequences need at least this many time steps

MMAP_CHUNK = 1 << 20  # rows read at a time when scanning a memory-mapped series


def _prepare_mmap(cfg: DataConfig) -> Prepared:
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
