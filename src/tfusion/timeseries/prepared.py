"""What the time-series data pipeline hands on: `Prepared` (scaled train/test windows, the fitted
scaler, the layout's description) and the steps every layout shares: scaling the two parts,
class ids of labelled steps, and the filters that leave windows out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tfusion.data.codec import PanelCodec
from tfusion.data.scalers import Scaler
from tfusion.data.windows import Windows
from tfusion.errors import ConfigError, DataError
from tfusion.timeseries.config import DataConfig


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
    # windowed panels with attributes: (n_test,) the entity (sequence number) of each test window
    test_groups: np.ndarray | None = None

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

    def digest(self) -> str:
        """A fingerprint of the data a run sees: SHA-256 over up to 65536 evenly spaced rows
        of the scaled series (all of a smaller one) and both parts' window starts. Cheap on a
        memory-mapped series of any size; any change in the file's values, its split or its
        windows changes it (up to rows between the sampled ones of a very long series)."""
        import hashlib

        h = hashlib.sha256()
        for part in (self.train, self.test):
            data = part.data
            rows = np.unique(np.linspace(0, len(data) - 1, min(len(data), 65536)).astype(np.int64))
            h.update(repr(data.shape).encode())
            h.update(np.ascontiguousarray(data[rows], dtype=np.float32).tobytes())
            h.update(np.ascontiguousarray(part.starts, dtype=np.int64).tobytes())
        return h.hexdigest()[:32]

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
            "digest": self.digest(),
            "scaler": self.scaler.to_dict(),
            "notices": list(self.notices),
            "classes": list(self.classes),
            "layout": self.layout,
            "entity": cfg.entity,
            "time": cfg.time,
            **self.panel,
            **({} if self.codec is None else {"codec": self.codec.to_dict()}),
        }


def scale_parts(
    cfg: DataConfig, raw: np.ndarray, columns: tuple[str, ...], train: Windows, test: Windows
) -> tuple[Scaler, Windows, Windows]:
    """The scaler fitted on what the training windows see, and both parts scaled to float32."""
    # fitted on the training part only, so no test statistic leaks into the model's inputs
    scaler = Scaler.fit(train.covered_values(), cfg.scaler)
    with np.errstate(over="ignore"):
        scaled = scaler.transform(raw).astype(np.float32)
    check_scaled(scaled, columns, cfg.scaler)
    train_scaled = train.with_data(scaled)
    test_scaled = train_scaled if test is train else test.with_data(scaled)
    return scaler, train_scaled, test_scaled


def check_scaled(scaled: np.ndarray, columns: tuple[str, ...], scaler: str) -> None:
    """A column that left the float32 range once scaled (..., C) is one clear error."""
    bad = ~np.isfinite(scaled)
    if bad.any():
        j = int(np.flatnonzero(bad.reshape(-1, bad.shape[-1]).any(axis=0))[0])
        raise DataError(
            f"column {columns[j]!r} leaves the float32 range once scaled (data.scaler="
            f"{scaler}); use data.scaler=minmax or standard, or rescale the column"
        )


def class_ids(labels: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names (numeric labels in numeric order, others alphabetical) and per-step ids."""
    names = sorted(set(labels.tolist()))
    if all(is_float(n) for n in names):
        names = sorted(names, key=float)
    index = {name: i for i, name in enumerate(names)}
    return tuple(names), np.fromiter((index[v] for v in labels), np.int64, len(labels))


def is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def keep_windows(
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


def window_filters(
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
