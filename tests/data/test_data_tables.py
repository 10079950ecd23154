"""load_table: formats, column rules, sentinels, missing policies and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from helpers import error_of
from tfusion.data import load_table
from tfusion.errors import ConfigError

VALUES = np.array([[1.5, 10.0], [2.25, 20.0], [3.0, 30.5], [4.75, 40.0]])


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def write_format(tmp_path: Path, fmt: str) -> Path:
    frame = pd.DataFrame(VALUES, columns=["a", "b"])
    if fmt == "csv":
        return write(tmp_path / "x.csv", frame.to_csv(index=False))
    if fmt == "csv_semicolon_comma":
        rows = ["a;b"] + [";".join(f"{v:g}".replace(".", ",") for v in r) for r in VALUES]
        return write(tmp_path / "x.csv", "\r\n".join(rows) + "\r\n")
    if fmt == "tsv":
        return write(tmp_path / "x.tsv", frame.to_csv(index=False, sep="\t"))
    if fmt == "pipe":
        return write(tmp_path / "x.csv", frame.to_csv(index=False, sep="|"))
    if fmt == "parquet":
        frame.to_parquet(tmp_path / "x.parquet")
        return tmp_path / "x.parquet"
    if fmt == "npy":
        np.save(tmp_path / "x.npy", VALUES)
        return tmp_path / "x.npy"
    if fmt == "mat":
        # a scalar beside the matrix, as MATLAB exports carry: only 2-D matrices count
        savemat(tmp_path / "x.mat", {"ts": VALUES, "n": 3})
        return tmp_path / "x.mat"
    np.savez(tmp_path / "x.npz", series=VALUES)
    return tmp_path / "x.npz"


@pytest.mark.parametrize(
    "fmt", ["csv", "csv_semicolon_comma", "tsv", "pipe", "parquet", "npy", "npz", "mat"]
)
def test_every_format_loads_the_same_values(tmp_path, fmt):
    table = load_table(write_format(tmp_path, fmt))
    assert table.values.dtype == np.float64
    np.testing.assert_array_equal(table.values, VALUES)
    named = fmt not in ("npy", "npz", "mat")
    assert table.columns == (("a", "b") if named else ("0", "1"))
    assert table.notices == ()


def test_npy_1d_is_one_column(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(5))
    table = load_table(tmp_path / "x.npy")
    assert table.values.shape == (5, 1)
    assert table.columns == ("0",)


def test_npz_with_several_arrays_lists_keys(tmp_path):
    np.savez(tmp_path / "x.npz", first=VALUES, second=VALUES)
    message = error_of(load_table, tmp_path / "x.npz")
    assert "first" in message and "second" in message


def test_mat_with_two_matrices_lists_them(tmp_path):
    savemat(tmp_path / "x.mat", {"a": VALUES, "b": VALUES})
    message = error_of(load_table, tmp_path / "x.mat")
    assert "a (" in message and "b (" in message


def test_garbage_mat_file_is_a_data_error(tmp_path):
    write(tmp_path / "x.mat", "this is not MATLAB")
    assert "MATLAB" in error_of(load_table, tmp_path / "x.mat")


def test_3d_array_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 4)))
    assert "(2, 3, 4)" in error_of(load_table, tmp_path / "x.npy")


def test_date_column_dropped_with_notice(tmp_path):
    path = write(tmp_path / "x.csv", "Date,v\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n")
    table = load_table(path)
    assert table.columns == ("v",)
    assert any(n.startswith("dropped non-numeric column 'Date'") for n in table.notices)


def test_stray_string_in_numeric_column_is_an_error(tmp_path):
    # 9 numbers + 1 string = 90% numeric: the column is numeric and the string an error
    cells = [str(i) for i in range(9)] + ["oops"]
    path = write(tmp_path / "x.csv", "ok,v\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    message = error_of(load_table, path)
    assert "'v'" in message and "'oops'" in message
    assert "row 9 (line 11)" in message


def test_mostly_text_column_is_dropped(tmp_path):
    # 8 numbers + 2 strings = 80% numeric: below the rule, the column is dropped
    cells = [str(i) for i in range(8)] + ["x", "y"]
    path = write(tmp_path / "x.csv", "ok,v\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    table = load_table(path)
    assert table.columns == ("ok",)
    assert any(n.startswith("dropped non-numeric column 'v'") for n in table.notices)


def test_stray_string_in_parquet_object_column(tmp_path):
    values = [str(float(i)) for i in range(19)] + ["bad"]  # numbers stored as text
    pd.DataFrame({"v": values}).to_parquet(tmp_path / "x.parquet")
    message = error_of(load_table, tmp_path / "x.parquet")
    assert "'bad'" in message and "row 19" in message


def test_empty_columns_and_rows_dropped(tmp_path):
    path = write(tmp_path / "x.csv", "a;b;;\n1;2;;\n;;;\n3;4;;\n5;6;;\n")
    table = load_table(path)
    np.testing.assert_array_equal(table.values, [[1, 2], [3, 4], [5, 6]])
    assert "dropped 1 empty rows" in table.notices
    assert sum(n.startswith("dropped empty column") for n in table.notices) == 2


def test_column_selection_by_name_and_index(tmp_path):
    path = write(tmp_path / "x.csv", "t,a,b\nx,1,2\ny,3,4\n")
    assert load_table(path, columns=["b", "a"]).values.tolist() == [[2, 1], [4, 3]]
    assert load_table(path, columns=["2"]).values.tolist() == [[2], [4]]
    message = error_of(load_table, path, columns=["c"])
    assert "'c'" in message and "'t', 'a', 'b'" in message
    assert "not numeric" in error_of(load_table, path, columns=["t"])


def test_sentinel_becomes_missing_and_is_interpolated(tmp_path):
    path = write(tmp_path / "x.csv", "a,b\n1,5\n-200,6\n3,-200\n4,8\n")
    table = load_table(path, missing_values=(-200,))
    np.testing.assert_array_equal(table.values, [[1, 5], [2, 6], [3, 7], [4, 8]])
    assert table.values.min() > -200
    assert any("treated as missing" in n for n in table.notices)


def test_column_of_sentinels_only_is_an_error(tmp_path):
    path = write(tmp_path / "x.csv", "a,b\n1,-200\n2,-200\n")
    assert "'b'" in error_of(load_table, path, missing_values=(-200,))


def test_interpolate_is_linear_with_nearest_edges(tmp_path):
    # column k keeps every row present, so the blank cells of a are gaps, not empty rows
    path = write(tmp_path / "x.csv", "a,k\n,0\n2,0\n,0\n,0\n8,0\n,0\n")
    table = load_table(path, missing="interpolate")
    np.testing.assert_allclose(table.values[:, 0], [2, 2, 4, 6, 8, 8])
    np.testing.assert_array_equal(load_table(path).values, table.values)  # the default
    assert "interpolated 4 missing values in column 'a'" in table.notices


def test_drop_removes_rows_with_missing(tmp_path):
    path = write(tmp_path / "x.csv", "a,b\n1,2\n,3\n4,NaN\n5,6\n")
    table = load_table(path, missing="drop")
    np.testing.assert_array_equal(table.values, [[1, 2], [5, 6]])
    assert "dropped 2 rows with missing values" in table.notices


def test_drop_leaving_one_row_is_an_error(tmp_path):
    path = write(tmp_path / "x.csv", "a,b\n1,2\n,3\n4,\n")
    assert "1 usable rows" in error_of(load_table, path, missing="drop")


def test_error_policy_gives_count_and_first_place(tmp_path):
    path = write(tmp_path / "x.csv", "a,b\n1,2\n3,\n,6\n")
    message = error_of(load_table, path, missing="error")
    assert "2 missing values" in message and "'b'" in message and "row 1 (line 3)" in message


def test_unknown_missing_policy(tmp_path):
    path = write(tmp_path / "x.csv", "a\n1\n2\n")
    assert "data.missing" in error_of(load_table, path, missing="mean", cls=ConfigError)


@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity"])
def test_inf_is_an_error_in_csv(tmp_path, cell):
    path = write(tmp_path / "x.csv", f"a,b\n1,2\n3,{cell}\n")
    message = error_of(load_table, path)
    assert "'b'" in message and "inf" in message and "row 1" in message


def test_inf_is_an_error_in_npy(tmp_path):
    np.save(tmp_path / "x.npy", np.array([[1.0, 2.0], [np.inf, 3.0]]))
    assert "row 1" in error_of(load_table, tmp_path / "x.npy")


def test_reverse_flips_time(tmp_path):
    path = write_format(tmp_path, "csv")
    np.testing.assert_array_equal(load_table(path, reverse=True).values, VALUES[::-1])


def test_too_few_rows(tmp_path):
    assert "at least 2" in error_of(load_table, write(tmp_path / "x.csv", "a,b\n1,2\n"))
    assert "at least 2" in error_of(load_table, write(tmp_path / "y.csv", "a,b\n"))


def test_no_numeric_column(tmp_path):
    path = write(tmp_path / "x.csv", "a,b\nx,y\nz,w\n")
    assert "no numeric column" in error_of(load_table, path)


def test_table_is_read_only(tmp_path):
    table = load_table(write_format(tmp_path, "csv"))
    with pytest.raises(ValueError):
        table.values[0, 0] = 0.0


def test_missing_file_mentions_builtins(tmp_path):
    message = error_of(load_table, str(tmp_path / "nope.csv"))
    assert "file not found" in message and "goog, sine" in message
    assert "goog, sine" in error_of(load_table, "googl")


def test_data_dir_from_environment(tmp_path, monkeypatch):
    write_format(tmp_path, "csv")
    monkeypatch.setenv("TFUSION_DATA", str(tmp_path))
    np.testing.assert_array_equal(load_table("x.csv").values, VALUES)


def test_sine_is_not_a_table():
    assert "windows" in error_of(load_table, "sine")


def test_bad_files_are_one_line_errors(tmp_path):
    assert "directory" in error_of(load_table, tmp_path)
    assert "unsupported file type" in error_of(load_table, write(tmp_path / "x.txt", "a\n1\n"))
    assert "empty" in error_of(load_table, write(tmp_path / "e.csv", ""))
    assert "empty" in error_of(load_table, write(tmp_path / "e.npy", ""))
    garbage = bytes(range(256)) * 4
    for name in ("g.npy", "g.npz", "g.parquet", "g.csv"):
        (tmp_path / name).write_bytes(garbage)
        assert str(tmp_path / name) in error_of(load_table, tmp_path / name)


def test_ragged_csv_is_an_error(tmp_path):
    path = write(tmp_path / "x.csv", "a,b\n1,2\n3,4,5,6\n")
    assert "line 3 of" in error_of(load_table, path)


def test_object_array_npy_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    assert "NumPy" in error_of(load_table, tmp_path / "x.npy")


def test_builtin_goog():
    table = load_table("goog")
    assert table.values.shape == (2148, 6)
    assert table.columns == ("open", "high", "low", "close", "adj_close", "volume")
    assert np.isfinite(table.values).all() and (table.values > 0).all()


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("1,2\n3,4\n5,7\n", ("0", "1")),  # numbers only: no header, the first row is data
        ("1;2,5\n3;4\n5;7\n", ("0", "1")),  # the same with decimal commas
        ("a,a\n1,2\n3,4\n5,7\n", ("a", "a.1")),  # a duplicated name is kept, renamed
        ("1,x\n1,2\n3,4\n5,7\n", ("1", "x")),  # one name that is not a number: a header
    ],
)
def test_a_header_of_numbers_is_the_first_data_row(tmp_path, text, columns):
    t = load_table(write(tmp_path / "h.csv", text))
    assert t.columns == columns
    assert len(t.values) == 3
    if columns == ("0", "1"):
        assert t.values[0, 0] == 1.0 and t.values[-1, 1] == 7.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n3,4,5\n6,7\n", "line 3 of"),  # an extra value
        ("a,b\n1,2\n3,4\n5\n6,7\n", "line 4 of"),  # a missing one
        ("a,b\n1,2,3\n4,5\n", "line 2 of"),  # the first data row (pandas drops it silently)
        ("1,2\n3\n", "but the first line has 2"),  # headerless
    ],
)
def test_rows_with_more_or_fewer_fields_name_the_line(tmp_path, text, message):
    path = write(tmp_path / "r.csv", text)
    got = error_of(load_table, path)
    assert message in got and "fields" in got


def test_blank_lines_and_trailing_delimiters_are_not_ragged(tmp_path):
    t = load_table(write(tmp_path / "t.csv", "a,b\n1,2,\n3,4,\n\n5,6,\n"))
    assert t.values.tolist() == [[1, 2], [3, 4], [5, 6]]


def test_a_dropped_column_and_an_all_text_table_name_the_cell_that_is_not_a_number(tmp_path):
    # thousands separators are not numbers: the notice (and the error when nothing is left)
    # shows such a cell, so the cause is plain
    path = write(tmp_path / "x.csv", 'ok,volume\n1,"2,898,514"\n2,"3,001,002"\n3,"1,000"\n')
    table = load_table(path)
    assert "dropped non-numeric column 'volume' (cells like '2,898,514' are not numbers)" in (
        table.notices
    )
    path = write(tmp_path / "y.csv", 'volume\n"2,898,514"\n"3,001,002"\n"1,000"\n')
    message = error_of(load_table, path)
    assert "'volume' holds '2,898,514'" in message and "thousands separators" in message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_wide_unicode_csv_with_a_byte_order_mark_reads_like_utf8(tmp_path, encoding):
    # Excel's "Unicode text" and PowerShell write UTF-16 with a BOM: it had been refused as
    # "not a text file (it contains NUL bytes)"
    text = "a,b\n" + "\n".join(f"{x:g},{y:g}" for x, y in VALUES) + "\n"
    path = tmp_path / "x.csv"
    bom = {"utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path.write_bytes(bom + text.encode(encoding))
    table = load_table(path)
    assert table.columns == ("a", "b")
    np.testing.assert_array_equal(table.values, VALUES)


def test_utf16_without_a_byte_order_mark_is_named(tmp_path):
    text = "a,b\n" + "\n".join(f"{x:g},{y:g}" for x, y in VALUES) + "\n"
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode("utf-16-le"))
    message = error_of(load_table, path)
    assert "UTF-16" in message and "UTF-8" in message


def test_comment_lines_above_the_header_are_skipped_and_line_numbers_kept(tmp_path):
    rows = "\n".join(f"{x:g},{y:g}" for x, y in VALUES)
    path = write(tmp_path / "x.csv", "# exported by a logger\n#  units: V, A\na,b\n" + rows + "\n")
    table = load_table(path)
    assert table.columns == ("a", "b")
    np.testing.assert_array_equal(table.values, VALUES)
    # a bad cell is reported at its line in the file, comments counted
    body = "".join(f"{i},{'x' if i == 1 else i}\n" for i in range(30))
    message = error_of(load_table, write(tmp_path / "bad.csv", "# note\na,b\n" + body))
    assert "'x'" in message and "line 4" in message
    # a comment below the header is named as one, not as a row with the wrong field count
    mid = write(tmp_path / "mid.csv", "a,b\n1,2\n# halfway\n3,4\n")
    message = error_of(load_table, mid)
    assert "line 3" in message and "comment" in message


def test_a_commented_header_stays_the_header(tmp_path):
    # gnuplot-style files write "#t,a" above plain numbers: that line names the columns
    rows = "\n".join(f"{x:g},{y:g}" for x, y in VALUES)
    table = load_table(write(tmp_path / "x.csv", "#t,a\n" + rows + "\n"))
    assert table.columns == ("#t", "a")
    np.testing.assert_array_equal(table.values, VALUES)


def test_nested_parquet_columns_struct_fields_read_lists_dropped(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(VALUES)
    pq.write_table(
        pa.table({
            "a": VALUES[:, 0],
            "pair": pa.array([[float(i), 1.0] for i in range(n)]),
            "s": pa.array([{"x": float(v), "y": 2.0 * v} for v in VALUES[:, 1]]),
        }),
        tmp_path / "x.parquet",
    )  # fmt: skip
    table = load_table(tmp_path / "x.parquet")
    # a struct is one column per field; a list is not one value per row: dropped with a notice
    assert table.columns == ("a", "s.x", "s.y")
    np.testing.assert_array_equal(table.values, np.c_[VALUES, 2.0 * VALUES[:, 1]])
    assert any("'pair'" in n and "list<" in n for n in table.notices)
    message = error_of(load_table, tmp_path / "x.parquet", columns=["a", "pair"])
    assert "'pair'" in message and "not numeric" in message
