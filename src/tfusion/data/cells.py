"""One raw column's cells: which are missing, which are numbers, how they were written, and
their text (for levels, labels and messages). Shared by the table and panel loaders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tfusion.data.readers import RawTable
from tfusion.errors import DataError

MISSING_TEXT = frozenset({"", "nan", "na", "n/a", "null", "none"})
NUMERIC_SHARE = 0.9  # a column is numeric when >= 90% of its non-missing cells are numbers
_MAX_NAMES = 30  # columns listed in an "unknown column" message


@dataclass(frozen=True, eq=False)
class Column:
    """One parsed column: its numbers and which cells are blank or not numbers."""

    values: np.ndarray  # (N,) float64, NaN where missing or not a number
    blank: np.ndarray  # (N,) bool, the cell is missing
    bad: np.ndarray  # (N,) bool, the cell is present but not a number


def kind_of(raw: RawTable, j: int, col: Column) -> str:
    """How a column was written: int or float numbers, or text. A typed source (Parquet, a
    DataFrame) says whether a column held ints; in a CSV, whole numbers written without a
    decimal point or exponent are ints, and a column with a leading zero ("02139") is text."""
    present = ~col.blank
    if col.bad[present].any() or not present.any():
        return "text"
    cells = raw.cells[j]
    if cells.dtype == np.float64:
        whole = bool(raw.integer and raw.integer[j])
        whole = whole or bool(raw.dtypes and raw.dtypes[j] == "bool")
        return "int" if whole else "float"
    values = col.values[present]
    if not np.all(values == np.round(values)):
        return "float"
    written = pd.Series(cells[present], dtype=object).astype(str).str.strip()
    if written.str.match(r"[+-]?0\d").any():  # "02139", "0042": codes, written back as text
        return "text"
    return "float" if written.str.contains(r"[.eE]", regex=True).any() else "int"


def number_text(value: float) -> str:
    """A number as a level or label: whole numbers without a trailing .0, others in the
    shortest text that reads back as the same float, so two different numbers never share a
    text (16-digit ids stay apart)."""
    if value == np.floor(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def shown(value: object) -> str:
    """A cell in a message: numbers as written, text quoted."""
    if isinstance(value, float | np.floating):
        return number_text(float(value))
    return repr(str(value))


def cell_codes(raw: RawTable, j: int, col: Column, rows: np.ndarray) -> tuple[np.ndarray, list]:
    """The cells of column j at `rows` as codes into their texts (first-seen order): numbers
    without a trailing .0, text stripped, blank cells "". Only the distinct cells are turned
    into text, so a column of millions of ids costs one code per row."""
    codes, uniques = pd.factorize(raw.cells[j][rows])  # missing cells (None, NaN) -> -1
    uniques = np.asarray(uniques, dtype=object)
    u = parse_cells(uniques, raw.decimal_comma) if len(uniques) else None
    texts = []
    for i, cell in enumerate(uniques.tolist()):
        if u is not None and u.blank[i]:
            texts.append("")
        elif not u.bad[i] and np.isfinite(u.values[i]):  # type: ignore[union-attr]
            texts.append(number_text(float(u.values[i])))  # type: ignore[union-attr]
        else:
            texts.append(str(cell).strip())
    if u is not None and (cells_merge(uniques, texts, u.blank) or leading_zero(uniques, u.blank)):
        # two different cells would share one text ("0042" and "42", or ids past float64's
        # 2**53), or the column writes codes with leading zeros ("02139", a text column to
        # `kind_of`): the cells keep their own text, so ids and levels never merge or change
        texts = ["" if u.blank[i] else str(c).strip() for i, c in enumerate(uniques.tolist())]
    texts.append("")  # code -1 (a missing cell) indexes this last entry
    merged, names = pd.factorize(np.asarray(texts, dtype=object))
    return merged[codes], [str(v) for v in names]


def leading_zero(cells: np.ndarray, blank: np.ndarray) -> bool:
    """Whether written (text) cells include a number with a leading zero, like "02139"."""
    if cells.dtype == np.float64:
        return False
    written = pd.Series(cells[~blank], dtype=object).astype(str).str.strip()
    return bool(written.str.match(r"[+-]?0\d").any())


def cells_merge(cells: np.ndarray, texts: list[str], blank: np.ndarray) -> bool:
    """Whether distinct written cells (text, stripped) would be given the same text."""
    if cells.dtype == np.float64:  # typed numbers: number_text keeps distinct floats apart
        return False
    written = {str(c).strip() for c, b in zip(cells.tolist(), blank.tolist()) if not b}
    return len({t for t, b in zip(texts, blank.tolist()) if not b}) < len(written)


def cell_texts(raw: RawTable, j: int, col: Column, rows: np.ndarray) -> np.ndarray:
    """A column's cells at `rows` as text (object array sharing one string per distinct
    cell); numbers print without a trailing .0, blank cells are ""."""
    codes, names = cell_codes(raw, j, col, rows)
    return np.asarray(names, dtype=object)[codes]


def need_cells(
    raw: RawTable,
    j: int,
    col: Column,
    rows: np.ndarray,
    label: str,
    role: str,
    what: str,
    why: str,
) -> None:
    """A one-line error naming the first empty cell of a column that every row needs (the
    entity, time or label column: `role`), with how many `what` are missing."""
    blank = col.blank[rows]
    if blank.any():
        i = int(rows[np.flatnonzero(blank)[0]])
        raise DataError(
            f"{role} column {raw.names[j]!r} of {label} is empty at {raw.where(i)} "
            f"({int(blank.sum())} missing {what}); {why}"
        )


def parse_cells(cells: np.ndarray, decimal_comma: bool) -> Column:
    """Numbers, missing cells and non-numbers of one raw column."""
    if cells.dtype == np.float64:  # shared with the RawTable, never written to (no copy)
        blank = np.isnan(cells)
        return Column(cells, blank, np.zeros_like(blank))
    # each distinct cell is parsed once (a column of ids repeats a few texts millions of times)
    codes, uniques = pd.factorize(cells)  # missing cells (None, NaN) -> -1
    text = pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype(str).str.strip()
    blank = text.str.lower().isin(MISSING_TEXT).to_numpy()
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text.where(~blank), errors="coerce").to_numpy(dtype=np.float64)
    values = np.append(values, np.nan)[codes]  # code -1 takes the appended missing entry
    blank = np.append(blank, True)[codes]
    return Column(values, blank, ~blank & np.isnan(values))


def find_column(key: str | int, names: tuple[str, ...], label: str) -> int:
    """Position of a column given by name, or by position as int or digit text."""
    text = str(key).strip()
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < len(names):
        return int(text)
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES]) + (
        " ..." if len(names) > _MAX_NAMES else ""
    )
    raise DataError(f"unknown column {key!r} in {label}; available columns: {shown}")
