"""The time axis of long-format tables: rows grouped by entity and sorted by time, times parsed
(numbers or dates), the learned step checked, and rows absent from a regular axis put back as
missing values for the missing-value policy.
"""

from __future__ import annotations

import datetime
import itertools
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from tfusion.data.cells import NUMERIC_SHARE, Column, cell_codes, need_cells
from tfusion.data.readers import RawTable
from tfusion.errors import DataError


def group_rows(
    raw: RawTable,
    parsed: list[Column],
    ent: int | None,
    tim: int | None,
    rows: np.ndarray,
    label: str,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], np.ndarray | None, str]:
    """Rows grouped by entity (first-seen order) and sorted by time within each; returns the
    rows, each file row's entity number and time (arrays over all file rows), the entity
    names and the kind of time ("datetime" or "number")."""
    codes = np.full(raw.rows, -1, dtype=np.int64)
    if ent is None:
        names: tuple[str, ...] = ("series",)
        codes[rows] = 0
    else:
        why = "every row needs the id of its sequence"
        need_cells(raw, ent, parsed[ent], rows, label, "entity", "ids", why)
        ids, texts = cell_codes(raw, ent, parsed[ent], rows)
        codes[rows] = ids
        names = tuple(texts)
    times = None
    kind = ""
    if tim is None:
        order = np.argsort(codes[rows], kind="stable")
    else:
        times, kind = _parse_times(raw, tim, parsed[tim], rows, label)
        order = np.lexsort((times[rows], codes[rows]))
    rows = rows[order]
    if times is not None:
        c, t = codes[rows], times[rows]
        dup = np.flatnonzero((c[1:] == c[:-1]) & (t[1:] == t[:-1]))
        if len(dup):
            i = int(rows[dup[0] + 1])
            where = "" if ent is None else f"entity {names[c[dup[0]]]!r} has "
            raise DataError(
                f"{label}: {where}time {_time_text(t[dup[0]], kind)} twice (the second at "
                f"{raw.where(i)}, {len(dup)} duplicates); keep one row per time"
                + (" and entity" if ent is not None else "")
            )
    return rows, codes, names, times, kind


def _parse_times(
    raw: RawTable, j: int, col: Column, rows: np.ndarray, label: str
) -> tuple[np.ndarray, str]:
    """The time column over all file rows: numbers (float64) when the cells are numbers,
    else datetimes as int64 nanoseconds (pandas to_datetime); an unparseable value is an
    error naming the first one."""
    name = raw.names[j]
    need_cells(raw, j, col, rows, label, "time", "times", "every row needs a time")
    present = len(rows)
    n_bad = int(col.bad[rows].sum())
    if (present - n_bad) / present >= NUMERIC_SHARE:
        if n_bad:
            i = int(rows[np.flatnonzero(col.bad[rows])[0]])
            raise DataError(
                f"time column {name!r} of {label} has a non-number {str(raw.cells[j][i])!r} "
                f"at {raw.where(i)}; fix it (times are numbers or dates, one kind per column)"
            )
        values = col.values.astype(np.float64)
        infinite = ~np.isfinite(values[rows])
        if infinite.any():
            i = int(rows[np.flatnonzero(infinite)[0]])
            raise DataError(
                f"time column {name!r} of {label} has {str(raw.cells[j][i])!r} at "
                f"{raw.where(i)}; every time must be a finite number or a date"
            )
        return values, "number"
    cells = pd.Series(raw.cells[j], dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": checked below
        try:
            parsed = pd.to_datetime(cells, errors="coerce", utc=True)
        except (ValueError, TypeError, OverflowError):
            parsed = pd.to_datetime(cells, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna().to_numpy()
    if bad[rows].any():
        # dates like 13/01/2020: pandas guessed month-first from the first cells; if reading
        # day-first fits every cell, that is the one format the column is written in
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                dayfirst = pd.to_datetime(cells, errors="coerce", utc=True, dayfirst=True)
            except (ValueError, TypeError, OverflowError):
                dayfirst = None
        if dayfirst is not None and not dayfirst.isna().to_numpy()[rows].any():
            parsed, bad = dayfirst, dayfirst.isna().to_numpy()
    if bad[rows].any():
        i = int(rows[np.flatnonzero(bad[rows])[0]])
        raise DataError(
            f"time column {name!r} of {label} has {str(raw.cells[j][i])!r} at {raw.where(i)}, "
            f"which is not a date or time ({int(bad[rows].sum())} such values); fix it, or "
            "write every time in one format (e.g. 2024-01-31 13:00)"
        )
    out = np.zeros(raw.rows, dtype=np.int64)
    out[rows] = parsed.iloc[rows].dt.as_unit("ns").astype("int64").to_numpy()
    return out, "datetime"


def _time_text(value: float, kind: str) -> str:
    if kind == "datetime":
        return str(pd.Timestamp(int(value), unit="ns", tz="UTC").tz_localize(None))
    return f"{float(value):g}"


def _step_text(step: float, kind: str) -> str:
    if kind != "datetime":
        return f"{step:g}"
    delta = pd.Timedelta(int(step), unit="ns")
    try:
        return pd.tseries.frequencies.to_offset(delta).freqstr
    except ValueError:
        return str(delta)


def check_steps(
    t: np.ndarray,
    bounds: np.ndarray,
    kind: str,
    entities: bool,
    notices: list[str],
    calendar: str | None = None,
) -> tuple[str | None, float | None]:
    """The most common median time step (as text, and as a number in the column's units); a
    notice counts the steps that differ from their sequence's median (gaps: rows missing in
    between, or irregular sampling). With a `calendar` frequency steps are counted in its
    months (a 28- and a 31-day month are both one step)."""
    medians, off, hit = [], 0, 0
    units = None if calendar is None else month_units(t, calendar)
    for a, b in itertools.pairwise(bounds):
        if b - a < 2:
            continue
        d = np.diff(t[a:b]).astype(np.float64)
        m = float(np.median(d))
        medians.append(m)
        if units is not None:
            d, m = np.diff(units[a:b]), 1.0
        n = int((~np.isclose(d, m, rtol=1e-9, atol=0)).sum())
        off += n
        hit += n > 0
    if not medians:
        return None, None
    values, counts = np.unique(medians, return_counts=True)
    common = float(values[np.argmax(counts)])
    if off:
        where = f"in {hit} of {len(bounds) - 1} entities" if entities else "in the series"
        notices.append(
            f"{off} time steps differ from the median step {where} (gaps: rows missing in "
            "between, or irregular sampling); rows are not resampled"
        )
    if calendar is not None:
        return calendar, common
    if len(values) > 1:
        notices.append(
            f"entities have {len(values)} different median time steps; the most common is "
            f"{_step_text(common, kind)}"
        )
    return _step_text(common, kind), common


def fill_gaps(
    x: np.ndarray,
    rows: np.ndarray,
    groups: np.ndarray,
    t: np.ndarray,
    kind: str,
    missing: str,
    notices: list[str],
    calendar: str | None = None,
    where: Callable[[int], str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows absent from a regular time axis come back as missing values, for the missing-value
    policy to fill (`interpolate`), keep (`keep`) or refuse (`error`). `where(row)` names a
    file row in messages.

    The step is the most common median step of the sequences (`groups`: each row's sequence,
    sorted); a step of m times that (m = 2, 3, ... exactly) within a sequence means m - 1 rows
    are missing there. They are inserted as NaN rows whose file row (`rows`, for labels and
    categories) is the row before them; other irregular steps are left alone (`check_steps`
    reports them). With a `calendar` frequency (months, quarters, years) the step is counted
    on the calendar. A sequence whose own median step is another (a weekly entity among daily
    ones) gets no rows inserted: `check_steps` reports the mixed steps instead of 6 rows in 7
    being invented. Returns x, rows and times with the inserted rows."""
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(groups)) + 1, [len(t)]])
    own = np.asarray(
        [np.median(np.diff(t[a:b])) if b - a > 1 else np.nan for a, b in itertools.pairwise(cuts)],
        dtype=np.float64,
    )
    medians = own[np.isfinite(own)]
    if not len(medians):
        return x, rows, t
    values, counts = np.unique(medians, return_counts=True)
    step = float(values[np.argmax(counts)])
    if step <= 0:
        return x, rows, t
    same = np.concatenate([groups[1:] == groups[:-1], [False]])  # row i and i + 1 share a sequence
    if calendar is None:  # only sequences on the common step get their gaps filled
        on_step = np.isnan(own) | np.isclose(own, step, rtol=1e-9, atol=0.0)
        same &= np.repeat(on_step, np.diff(cuts))
    if calendar is not None:
        units = month_units(t, calendar)
        ratio = np.diff(units, append=units[-1])
    else:
        ratio = np.diff(t, append=t[-1]).astype(np.float64) / step
    m = np.round(ratio)
    gap = same & (m >= 2) & np.isclose(ratio, m, rtol=1e-9, atol=1e-9)
    if not gap.any():
        return x, rows, t
    extra = np.where(gap, m - 1, 0).astype(np.int64)
    total = int(extra.sum())
    first = int(np.flatnonzero(gap)[0])
    at = f" at {where(int(rows[first]))}" if where is not None else ""
    where_text = f"after {_time_text(t[first], kind)}{at}"
    if missing == "error":
        raise DataError(
            f"{total} time steps are missing in {int(gap.sum())} gaps of the time column (the "
            f"first {where_text}, at the step {_step_text(step, kind)}); fill them, or set "
            "data.missing=interpolate (or drop, to leave them out)"
        )
    if total > len(t):
        raise DataError(
            f"the time column has more missing steps ({total}) than rows ({len(t)}) at the "
            f"step {_step_text(step, kind)} (the first gap {where_text}); check data.time"
        )
    index = np.repeat(np.arange(len(t)), 1 + extra)
    offset = np.arange(len(index)) - np.repeat(np.cumsum(1 + extra) - (1 + extra), 1 + extra)
    x = x[index].copy()
    x[offset > 0] = np.nan
    if calendar is not None:  # the k-th missing month (quarter, year) after the row before
        base = pd.DatetimeIndex(pd.to_datetime(t[index], unit="ns"))
        freq = pd.tseries.frequencies.to_offset(calendar)
        times = np.asarray(
            [(d + freq * int(k)).value if k else d.value for d, k in zip(base, offset)],
            dtype=t.dtype,
        )
    else:
        times = t[index] + (offset * step).astype(t.dtype)
    text = calendar if calendar is not None else _step_text(step, kind)
    notices.append(
        f"inserted {total} missing time steps in {int(gap.sum())} gaps (rows absent at the "
        f"step {text}); data.missing={missing} handles them"
    )
    return x, rows[index], times


def time_zone(raw: RawTable, j: int, rows: np.ndarray) -> str | None:
    """The zone a date column was written in, to write synthetic times back in: its name
    ("Europe/Paris", from a typed source) or fixed offset ("+01:00") when the sampled cells
    share one, "UTC" when they carry different offsets (daylight saving), None for times
    written without a zone."""
    sample = rows[:: max(1, len(rows) // 500)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            parsed = pd.to_datetime(pd.Series(raw.cells[j][sample], dtype=object), errors="coerce")
        except (ValueError, TypeError, OverflowError):  # mixed offsets
            return "UTC"
    tz = getattr(parsed.dt, "tz", None) if hasattr(parsed, "dt") else None
    if tz is None:
        return None
    if isinstance(tz, datetime.timezone):  # a fixed offset: "+01:00"
        minutes = int(tz.utcoffset(None).total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return str(tz)


def calendar_step(times: np.ndarray, bounds: np.ndarray) -> str | None:
    """A calendar frequency ("MS", "3MS", "12ME", ...) when dates (int64 ns) fall on month
    starts (or month ends) at midnight and every step within a sequence is a whole number of
    one step of months (1, 3 or 12: gaps allowed): such steps have no fixed length, so gaps are
    found and synthetic dates laid out on the calendar. None for fixed steps (hours, days) and
    irregular dates."""
    if len(times) < 3:
        return None
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(times), unit="ns"))
    if not (index == index.normalize()).all():
        return None
    anchor = "MS" if index.is_month_start.all() else "ME" if index.is_month_end.all() else None
    if anchor is None:
        return None
    months = np.asarray(index.year * 12 + index.month, dtype=np.int64)
    within = np.ones(len(months) - 1, dtype=bool)
    within[np.asarray(bounds[1:-1]) - 1] = False  # no step from one sequence to the next
    d = np.diff(months)[within]
    if len(d) == 0 or (d <= 0).any():
        return None
    step = int(np.min(d))
    if step not in (1, 3, 12) or (d % step).any() or np.median(d) != step:
        return None
    return anchor if step == 1 else f"{step}{anchor}"


def month_units(times: np.ndarray, calendar: str) -> np.ndarray:
    """Dates (int64 ns) as a count of `calendar` steps since year 0 (float64)."""
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(times), unit="ns"))
    per = pd.tseries.frequencies.to_offset(calendar).n
    return np.asarray(index.year * 12 + index.month, dtype=np.float64) / per
