"""The benchmark files in ../shared/data (or $TFUSION_DATA) load with the expected shapes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tfusion.data import load_table


def data_dir() -> Path:
    """The shared data folder; skips the test when it is absent."""
    folder = Path(
        os.environ.get("TFUSION_DATA") or Path(__file__).parents[2] / ".." / "shared" / "data"
    )
    if not folder.is_dir():
        pytest.skip(f"benchmark data folder {folder} not found")
    return folder


def path_of(name: str) -> Path:
    path = data_dir() / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def test_air_quality_with_sentinels():
    table = load_table(path_of("AirQualityUCI.csv"), missing_values=(-200,))
    assert table.values.shape == (9357, 13)
    assert not (table.values == -200).any() and np.isfinite(table.values).all()
    assert any(n.startswith("dropped non-numeric column 'Date'") for n in table.notices)
    assert "dropped 114 empty rows" in table.notices


def test_air_quality_without_sentinels_keeps_them_as_numbers():
    table = load_table(path_of("AirQualityUCI.csv"))
    assert table.values.shape == (9357, 13) and (table.values == -200).any()


def test_stock_data():
    table = load_table(path_of("stock_data.csv"))
    assert table.values.shape == (3685, 6) and table.columns[0] == "Open"


def test_etth1_drops_the_date():
    table = load_table(path_of("ETTh1.csv"))
    assert table.values.shape == (17420, 7) and "date" not in table.columns
    assert any(n.startswith("dropped non-numeric column 'date'") for n in table.notices)


def test_fmri_netsim_matrix():
    table = load_table(path_of("fMRI/sim4.mat"))
    assert table.values.shape == (10000, 50)  # 50 subjects x 200 time points, 50 nodes
    assert np.isfinite(table.values).all()


def test_air_quality_clean_windows():
    """NMHC(GT) is 90% missing; 5040 of the 9258 windows of 100 hours hold no filled gap
    longer than 6 hours in the other 12 columns (counted from the raw file by hand)."""
    from tfusion.timeseries.config import DataConfig
    from tfusion.timeseries.data import prepare

    cfg = DataConfig(
        source=str(path_of("AirQualityUCI.csv")),
        missing_values=(-200.0,),
        max_missing=0.5,
        max_gap=6,
        window=100,
        split="none",
    )
    prep = prepare(cfg)
    assert len(prep.columns) == 12 and "NMHC(GT)" not in prep.columns
    assert len(prep.train) == 5040
