"""Reading one file into raw columns, before any checking: CSV, Parquet, .npy and .npz.

A `RawTable` keeps every column as read: float64 where the file stores numbers, Python objects
(text, dates, None) otherwise. Deciding which columns are numeric, what is missing and what is an
error is `tables.py`'s job; this module only turns bytes into cells.

CSV: the delimiter is sniffed among `,` `;` tab `|` (the one that splits the first lines into the
same number of fields, more than one; ties go to the earlier in that list). With a delimiter other
than `,`, a comma inside a cell is a decimal comma (`2,6` is 2.6), as in European exports.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfusion.errors import DataError

DELIMITERS = (",", ";", "\t", "|")
SUFFIXES = (".csv", ".tsv", ".parquet", ".npy", ".npz", ".mat", ".ts")
_SNIFF_LINES = 50


@dataclass(frozen=True, eq=False)
class RawTable:
    """Columns as read from a file: one (N,) array per column, float64 or object."""

    names: tuple[str, ...]
    cells: tuple[np.ndarray, ...]
    decimal_comma: bool = False  # text cells use `,` as the decimal separator
    first_line: int | None = None  # file line of data row 0 (CSV), for error messages
    integer: tuple[bool, ...] = ()  # typed sources (Parquet, DataFrame): the column held ints
    # typed sources: each numeric column's dtype ("int32", "bool", "float32"; "" for others),
    # so synthetic tables are written back with the input's widths
    dtypes: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """Number of data rows."""
        return len(self.cells[0]) if self.cells else 0

    def where(self, row: int) -> str:
        """`row 3 (line 5)` for CSV, `row 3` otherwise; rows count from 0."""
        if self.first_line is None:
            return f"row {row}"
        return f"row {row} (line {row + self.first_line})"


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (errors shown to users are one line)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def resolve_path(source: str | Path, builtin_names: tuple[str, ...] = ()) -> Path:
    """An existing file for `source`, also looked up under $TFUSION_DATA; DataError otherwise."""
    path = Path(source).expanduser()
    data_dir = os.environ.get("TFUSION_DATA")
    if not path.exists() and data_dir and not path.is_absolute():
        path = Path(data_dir) / path if (Path(data_dir) / path).exists() else path
    if not path.exists():
        names = f" (built-in data sets: {', '.join(builtin_names)})" if builtin_names else ""
        where = f"; also looked in TFUSION_DATA={data_dir}" if data_dir else ""
        raise DataError(f"file not found: {source}{names}{where}")
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass a file ({', '.join(SUFFIXES)})")
    return path


def read_raw(path: Path) -> RawTable:
    """Read a .csv/.tsv, .parquet, .npy or .npz file into raw columns."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"unsupported file type {suffix or '(none)'!r} for {path}; use {', '.join(SUFFIXES)}"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes); pass a file with a header and data rows")
    if suffix in (".csv", ".tsv"):
        return _read_csv(path)
    if suffix == ".mat":
        return _read_mat(path)
    if suffix == ".ts":
        from tfusion.data.ts_format import read_ts  # ts_format builds RawTables

        return read_ts(path)
    if suffix == ".parquet":
        return _read_parquet(path)
    return _read_numpy(path)


def sniff_delimiter(text: str) -> str:
    """The delimiter among `,` `;` tab `|` that splits the first lines consistently."""
    lines = [line for line in text.splitlines()[:_SNIFF_LINES] if line.strip()]
    best, best_fields = ",", 1
    for delimiter in DELIMITERS:
        counts = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = delimiter, fields
    if best_fields == 1 and lines:
        # no delimiter is consistent (ragged file): trust the header line
        header = [len(next(csv.reader([lines[0]], delimiter=d))) for d in DELIMITERS]
        best = DELIMITERS[int(np.argmax(header))]
    return best


# byte-order marks of the wide Unicode encodings (UTF-32 first: its LE mark starts like UTF-16's)
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode_text(data: bytes, path: Path) -> str:
    """The text of a CSV file: UTF-8 (with or without a BOM), UTF-16/32 with a BOM (what
    Excel's "Unicode text" and PowerShell write), else Latin-1 (old spreadsheet exports)."""
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path} starts as {encoding.upper()} text but byte {e.start} does not "
                    "decode; save it again as UTF-8 CSV"
                ) from None
    head = data[:4096]
    if b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if max(even, odd) > 0.4 * len(head) / 2 and min(even, odd) < 0.05 * len(head) / 2:
            raise DataError(
                f"{path} looks like UTF-16 text without a byte-order mark; save it as UTF-8 CSV"
            )
        raise DataError(f"{path} is not a text file (it contains NUL bytes); pass a CSV file")
    if b"\x00" in data[:65536]:
        raise DataError(f"{path} is not a text file (it contains NUL bytes); pass a CSV file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte decodes


def _strip_comments(text: str) -> tuple[str, int]:
    """The text without its leading `#` comment lines (notes some exporters write above the
    header), and how many lines were dropped (to keep reported line numbers those of the
    file). The last of them stays when it is a commented header (`#time,a,b` above rows of
    numbers, with as many fields)."""
    lines = text.splitlines(keepends=True)
    k = 0
    while k < len(lines) and lines[k].lstrip().startswith("#"):
        k += 1
    if not k:
        return text, 0
    rest = "".join(lines[k:])
    if rest.strip():
        delimiter = sniff_delimiter(rest)
        first = next(csv.reader(io.StringIO(rest), delimiter=delimiter), [])
        header = next(csv.reader([lines[k - 1]], delimiter=delimiter), [])
        numbers = bool(first) and all(_is_number(c, delimiter != ",") for c in first)
        if numbers and len(header) == len(first) > 1:
            k -= 1
    return "".join(lines[k:]), k


def _read_csv(path: Path) -> RawTable:
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path} is empty (only whitespace); pass a file with a header and rows")
    text, skipped = _strip_comments(_decode_text(data, path))
    if not text.strip():
        raise DataError(f"{path} holds only '#' comment lines; pass a file with a header and rows")
    delimiter = sniff_delimiter(text)
    decimal_comma = delimiter != ","
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    headerless = bool(first) and all(_is_number(c, decimal_comma) for c in first)
    check_field_counts(text, delimiter, path, headerless, skipped)
    try:
        with warnings.catch_warnings():
            # extra fields are all blank here (checked above): pandas drops them, nothing lost
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                # a first line of numbers is data, not a header: columns are named 0, 1, ...
                header=None if headerless else "infer",
                dtype=str,
                keep_default_na=False,  # missing cells are decided in tables.py, not by pandas
                na_filter=False,
                skip_blank_lines=False,  # keep row numbers equal to file lines
                index_col=False,  # never turn the first column into an index silently
            )
    except (pd.errors.ParserError, ValueError) as e:
        raise DataError(
            f"cannot parse {path} as CSV (delimiter {delimiter!r}): {first_line(e)}"
        ) from e
    if headerless:
        frame.columns = [str(i) for i in range(frame.shape[1])]
    first = (1 if headerless else 2) + skipped
    return from_frame(frame, decimal_comma=decimal_comma, first_line=first)


def check_field_counts(
    text: str, delimiter: str, path: Path, headerless: bool, skipped: int = 0
) -> None:
    """DataError naming the first line whose field count differs from the first line's.

    pandas drops extra values (with a warning) and fills short rows with blanks that are then
    interpolated: silent data loss. Blank lines and extra fields that are all blank (a trailing
    delimiter) lose nothing and pass. One pass of the csv module counts the fields of every
    row; only a file with a mismatch is read a second time, to find the line."""
    try:
        counts = np.fromiter(map(len, csv.reader(io.StringIO(text), delimiter=delimiter)), np.int64)
    except csv.Error as e:
        raise DataError(f"cannot parse {path} as CSV (delimiter {delimiter!r}): {e}") from e
    if not len(counts):
        return
    expected = int(counts[0])
    suspect = (counts != expected) & (counts > 0)
    if not suspect.any():
        return
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for i, row in enumerate(reader):
        if not suspect[i] or not any(c.strip() for c in row):
            continue  # a blank line
        if len(row) > expected and not any(c.strip() for c in row[expected:]):
            continue  # trailing delimiters only
        line = reader.line_num + skipped
        if row and row[0].lstrip().startswith("#"):
            raise DataError(
                f"line {line} of {path} is a '#' comment; comments are skipped only above the "
                "header: delete that line"
            )
        first = "the first line" if headerless else "the header"
        raise DataError(
            f"line {line} of {path} has {len(row)} fields but {first} has "
            f"{expected} (delimiter {delimiter!r}); give every row one field per column "
            "(leave a cell blank for a missing value)"
        )


def _is_number(cell: str, decimal_comma: bool) -> bool:
    cell = cell.strip()
    if decimal_comma:
        cell = cell.replace(",", ".")
    try:
        float(cell)
    except ValueError:
        return False
    return cell.lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity")


def _read_numpy(path: Path) -> RawTable:
    with open(path, "rb") as f:
        head = f.read(6)
    # np.load reads any other bytes as a pickle and says so: name the real problem instead
    if not (head.startswith(b"\x93NUMPY") or head.startswith(b"PK")):
        raise DataError(
            f"{path} is not a NumPy .npy/.npz file (it does not start like one); "
            "save the array with numpy.save or numpy.savez"
        )
    try:
        loaded = np.load(path, allow_pickle=False)  # pickles can run code: never load them
    except Exception as e:  # garbage bytes surface as ValueError, OSError, EOFError, zip errors
        raise DataError(
            f"cannot read {path} as a NumPy file ({first_line(e)}); save it with numpy.save"
        ) from e
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            if len(keys) != 1:
                raise DataError(
                    f"{path} holds {len(keys)} arrays ({', '.join(keys) or 'none'}); "
                    "save the one series alone with numpy.savez or numpy.save"
                )
            try:
                loaded = loaded[keys[0]]
            except Exception as e:
                raise DataError(f"cannot read array {keys[0]!r} of {path}: {first_line(e)}") from e
    return from_array(loaded, str(path))


def _read_mat(path: Path) -> RawTable:
    """A MATLAB (v4-v7.2) file holding one time-step x feature matrix, e.g. NetSim's `ts`."""
    from scipy.io import loadmat

    try:
        variables = loadmat(path)
    except NotImplementedError as e:  # v7.3 files are HDF5
        raise DataError(
            f"{path} is a MATLAB v7.3 (HDF5) file; save it with save(..., '-v7') or as CSV"
        ) from e
    except Exception as e:  # corrupt files raise ValueError, TypeError, MatReadError, ...
        raise DataError(f"cannot read {path} as a MATLAB file: {first_line(e)}") from e
    tables = {
        k: v
        for k, v in variables.items()
        if not k.startswith("__")
        and isinstance(v, np.ndarray)
        and v.ndim == 2
        and v.shape[0] > 1
        and np.issubdtype(v.dtype, np.number)
    }
    if len(tables) != 1:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in tables.items()) or "none"
        raise DataError(
            f"{path} holds {len(tables)} time-step x feature matrices ({shapes}); "
            "save the one series alone or export it as CSV"
        )
    key, array = next(iter(tables.items()))
    return from_array(array, f"{path}:{key}")


def from_array(array: np.ndarray, label: str) -> RawTable:
    """Raw columns of a numeric array: 1-D is one column, 2-D is (N, C); columns named 0..C-1."""
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DataError(
            f"{label} holds an array of shape {array.shape}; expected (N,) or (N, C) time steps"
            + (" (train on (N, L, C) sequences with data.source=FILE)" if array.ndim == 3 else "")
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise DataError(f"{label} holds dtype {array.dtype}; expected real numbers")
    values = array.astype(np.float64)
    names = tuple(str(j) for j in range(values.shape[1]))
    return RawTable(names, tuple(values[:, j] for j in range(values.shape[1])))


def from_frame(
    frame: pd.DataFrame, decimal_comma: bool = False, first_line: int | None = None
) -> RawTable:
    """Raw columns of a DataFrame: numeric dtypes as float64 (NA -> NaN), others as objects."""
    cells, integer, dtypes = [], [], []
    for name in frame.columns:
        column = frame[name]
        integer.append(bool(pd.api.types.is_integer_dtype(column)))
        numeric = pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column)
        # complex numbers are no real channel: as text they are dropped or refused, not cut
        numeric = numeric and not pd.api.types.is_complex_dtype(column)
        dtypes.append(numpy_name(column.dtype) if numeric else "")
        if numeric:
            cells.append(column.to_numpy(dtype=np.float64, na_value=np.nan))
        else:  # one Python object per distinct cell, shared by its rows (ids repeat a lot)
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            distinct = np.asarray([*np.asarray(uniques, dtype=object).tolist(), None], dtype=object)
            cells.append(distinct[codes])  # code -1 (missing) -> None
    # a quoted header cell may hold line breaks; names are one line (they appear in messages)
    names = tuple(" ".join(str(c).splitlines()) for c in frame.columns)
    return RawTable(names, tuple(cells), decimal_comma, first_line, tuple(integer), tuple(dtypes))


def numpy_name(dtype: Any) -> str:
    """The numpy name of a numeric dtype ("int32", "bool", "float32"), pandas' nullable ones
    (Int32, boolean) included; "" for anything else."""
    try:
        dt = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    except TypeError:
        return ""
    return str(dt) if dt.kind in "biuf" else ""  # not complex, decimal (object), ...


def _read_parquet(path: Path) -> RawTable:
    """A Parquet file one column at a time (Parquet is stored by column): numbers straight from
    Arrow to float64, other columns through pandas; only one column's Arrow buffers are alive
    at once, so reading costs about the numbers themselves."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    cells, integer, names, dtypes = [], [], [], []

    def add(name: str, col: Any) -> None:
        kind = col.type
        if pa.types.is_struct(kind):  # one column per field: {"x": 1.0} -> column "name.x"
            for i in range(kind.num_fields):
                add(f"{name}.{kind.field(i).name}", pc.struct_field(col, [i]))
            return
        names.append(name)
        integer.append(bool(pa.types.is_integer(kind)))
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        numeric = numeric or pa.types.is_boolean(kind)
        dtypes.append(numpy_name(kind.to_pandas_dtype()) if numeric else "")
        if numeric:
            if col.null_count:
                col = col.cast(pa.float64()).fill_null(float("nan"))
            cells.append(np.asarray(col.to_numpy(), dtype=np.float64))
        elif pa.types.is_nested(kind):  # lists, maps: not one value per row; shown as text, so
            # the column is dropped with a notice (or refused if selected) like any text column
            values = [None if v is None else f"{kind} {v}" for v in col.to_pylist()]
            cells.append(from_frame(pd.DataFrame({name: values})).cells[0])
        else:
            cells.append(from_frame(col.to_pandas().to_frame(name)).cells[0])

    try:
        source = pq.ParquetFile(path)
        for name in source.schema_arrow.names:
            add(name, source.read(columns=[name]).column(0))
            pa.default_memory_pool().release_unused()  # give the column's pages back
    # pyarrow raises several unrelated types for corrupt files; all mean "not readable"
    except Exception as e:
        raise DataError(f"cannot read {path} as Parquet: {first_line(e)}") from e
    names = [" ".join(str(c).splitlines()) for c in names]
    return RawTable(tuple(names), tuple(cells), integer=tuple(integer), dtypes=tuple(dtypes))
