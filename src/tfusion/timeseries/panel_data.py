"""Many sequences (entities of a long-format table, or the rows of (N, L, C) sequences): windows
that never cross two sequences, attribute vectors per window, and whole padded sequences
(data.whole)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from tfusion.data.codec import PanelCodec, fit_attributes
from tfusion.data.scalers import Scaler
from tfusion.data.tables import Table
from tfusion.data.windows import (
    Windows,
    segment_of,
    segment_windows,
    split_groups,
    split_random,
    split_time_segments,
)
from tfusion.errors import ConfigError, DataError
from tfusion.timeseries.config import DataConfig
from tfusion.timeseries.prepared import (
    Prepared,
    check_scaled,
    class_ids,
    keep_windows,
    scale_parts,
    window_filters,
)

MIN_WHOLE = 2  # data.whole: sequences need at least this many time steps


def one_series_entity_split(source: str, entity: str | None = None) -> str:
    """The refusal of data.split=entity for data that is one series (one entity)."""
    if entity is not None:
        return (
            f"data.split=entity holds out whole entities, but {source} has one entity in "
            f"column {entity!r}: use data.split=random or time, or give more entities"
        )
    return (
        f"data.split=entity holds out whole entities, but {source} is one series (a table "
        "with a data.entity column, or (N, L, C) sequences, has several); use "
        "data.split=random or time"
    )


def prepare_panel(cfg: DataConfig, table: Table, layout: str) -> Prepared:
    """Windows of many sequences (one per entity, or per (N, L, C) row), never across two."""
    raw, bounds, columns = table.values, table.bounds, table.columns
    notices = [*table.notices]
    lengths = np.diff(bounds)
    codec = None
    # an entity table always gets one: it carries the input's kinds, order and dtypes
    if table.codes is not None or table.attributes is not None or cfg.whole or cfg.entity:
        if cfg.label is not None and cfg.whole:
            raise ConfigError(
                "data.label does not apply with data.whole=true; list the label column in "
                "data.static and data.categorical to condition on it"
            )
        # levels of the sequences long enough to train on: a level only a left-out sequence
        # has is never learned, so the model does not offer it
        need = MIN_WHOLE if cfg.whole else cfg.window
        levels, codes = kept_levels(table.levels, table.codes, np.repeat(lengths >= need, lengths))
        categorical = tuple(zip(table.categorical, levels))
        codec = PanelCodec(
            columns, categorical, kinds=table.kinds, schema=table.schema, dtypes=table.dtypes
        )
        if codes is not None:
            raw = np.concatenate([raw, codec.one_hot(codes)], axis=1)
            columns = codec.feature_columns
    if cfg.whole:
        return prepare_whole(cfg, table, layout, raw, columns, codec, notices)
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
        classes, step_classes = class_ids(table.labels)
    long_gaps = None if cfg.max_gap is None else table.long_gaps(cfg.max_gap)
    filters = window_filters(long_gaps, cfg.max_gap, step_classes)
    if cfg.split == "time":
        train, test = split_time_segments(raw, bounds, cfg.window, cfg.stride, cfg.test_fraction)
        for f in filters:
            train = keep_windows(train, *f, notices)
            test = keep_windows(test, *f, notices)
    else:
        everything = segment_windows(raw, bounds, cfg.window, cfg.stride)
        for f in filters:
            everything = keep_windows(everything, *f, notices)
        if cfg.split == "none":
            train = test = everything
        elif layout == "windows" or cfg.split == "entity":
            # over sequences: no sequence (entity) lends windows to both parts
            if len(bounds) < 3 and layout != "windows":
                raise ConfigError(one_series_entity_split(cfg.source, cfg.entity))
            groups = segment_of(bounds, everything.starts)
            train, test = split_groups(everything, groups, cfg.test_fraction, cfg.seed, what)
        else:
            train, test = split_random(everything, cfg.test_fraction, cfg.seed)
    scaler, train_scaled, test_scaled = scale_parts(cfg, raw, columns, train, test)
    if layout == "windows":
        panel: dict[str, Any] = {"sequences": len(lengths), "sequence_length": int(lengths.max())}
    else:
        kept = [name for name, n in zip(table.entities, lengths) if n >= cfg.window]
        panel = {"frequency": table.frequency}
        if cfg.entity is not None:
            panel["entities"] = {"count": len(lengths), "kept": kept}
        panel.update(time_state(table, lengths >= cfg.window))
    train_attrs = test_attrs = test_attributes = attr_rows = test_groups = None
    if codec is not None and table.attributes is not None:
        # levels and ranges of the entities that have windows (a level only a left-out entity
        # has is never learned, so it is not offered)
        kept = np.flatnonzero(lengths >= cfg.window)
        kept_rows = table.attributes.iloc[kept]
        codec = replace(codec, attributes=fit_attributes(kept_rows, table.kinds))
        everyone = np.zeros((len(lengths), codec.attribute_dim), dtype=np.float32)
        everyone[kept] = codec.encode_attributes(kept_rows)
        train_attrs = everyone[segment_of(bounds, train_scaled.starts)]
        test_groups = segment_of(bounds, test_scaled.starts)
        test_attrs = everyone[test_groups]
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
        test_groups=test_groups,
    )


def prepare_whole(
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
    check_scaled(padded, columns, cfg.scaler)
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
    panel.update(time_state(table, idx))
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


def kept_levels(
    levels: tuple[tuple[str, ...], ...], codes: np.ndarray | None, kept: np.ndarray
) -> tuple[tuple[tuple[str, ...], ...], np.ndarray | None]:
    """Each categorical channel's levels cut to those the `kept` rows have, and the codes
    renumbered (-1 for a level only left-out rows have: those rows are never trained on)."""
    if codes is None:
        return levels, None
    out_levels, out = [], np.full_like(codes, -1)
    for k, names in enumerate(levels):
        seen = np.unique(codes[kept, k])
        renumber = np.full(len(names), -1, dtype=codes.dtype)
        renumber[seen] = np.arange(len(seen))
        out[:, k] = renumber[codes[:, k]]
        out_levels.append(tuple(names[i] for i in seen))
    return tuple(out_levels), out


def time_state(table: Table, kept: np.ndarray) -> dict[str, Any]:
    """What regenerating the time column of the kept sequences needs (sample output): the time
    kind, the step, each kept sequence's first time, and for dates the zone they were written
    in and a calendar frequency (none without a time column)."""
    if table.starts is None:
        return {}
    cast = int if table.time_kind == "datetime" else float  # ns since 1970 stay exact
    return {
        "time_kind": table.time_kind,
        "time_step": table.step,
        "start_times": [cast(v) for v in table.starts[kept]],
        "time_zone": table.time_zone,
        "calendar": table.calendar,
    }
