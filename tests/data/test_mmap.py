"""Memory-mapped series: the same windows and scaler as a full load, without copying the file."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import error_of
from tfusion.data import Scaler
from tfusion.errors import ConfigError
from tfusion.timeseries.config import DataConfig
from tfusion.timeseries.data import prepare


@pytest.fixture
def series(tmp_path):
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(3000, 3)), axis=0).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy", x


@pytest.mark.parametrize("split", ["random", "time", "none"])
@pytest.mark.parametrize("scaler", ["minmax", "standard"])
def test_mmap_gives_the_windows_of_a_full_load(series, split, scaler):
    path, _ = series
    kw = dict(source=str(path), window=16, split=split, scaler=scaler, test_fraction=0.2)
    full, mapped = prepare(DataConfig(**kw)), prepare(DataConfig(**kw, mmap=True))
    assert len(full.train) == len(mapped.train) and len(full.test) == len(mapped.test)
    idx = np.arange(0, len(full.train), 97)
    # the same windows in original units
    np.testing.assert_allclose(
        mapped.inverse(mapped.train.batch(idx)), full.inverse(full.train.batch(idx)), rtol=1e-4
    )
    if split != "random":  # random: fitted on all rows (documented), not only covered ones
        np.testing.assert_allclose(mapped.train.batch(idx), full.train.batch(idx), atol=2e-6)
        np.testing.assert_allclose(mapped.scaler.offset, full.scaler.offset, rtol=1e-6)
        np.testing.assert_allclose(mapped.scaler.scale, full.scaler.scale, rtol=1e-6)


def test_mmap_keeps_the_file_mapped_not_copied(series):
    path, _ = series
    mapped = prepare(DataConfig(source=str(path), window=16, split="none", mmap=True))
    base = mapped.train.data
    while not isinstance(base, np.memmap) and getattr(base, "base", None) is not None:
        base = base.base
    assert isinstance(base, np.memmap)


def test_chunked_fit_equals_in_memory_fit():
    x = np.random.default_rng(1).normal(size=(1001, 4)) * [1, 1e6, 1e-6, 3]
    for kind in ("minmax", "standard", "none"):
        a, b = Scaler.fit(x, kind), Scaler.fit_chunked(x, kind, chunk=64)
        np.testing.assert_allclose(a.offset, b.offset, rtol=1e-12)
        np.testing.assert_allclose(a.scale, b.scale, rtol=1e-12)
    np.testing.assert_allclose(Scaler.fit(x, "standard").scale, x.std(axis=0), rtol=1e-12)


def test_mmap_errors_are_one_line(tmp_path, series):
    path, x = series
    bad = x.copy()
    bad[1234, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    message = error_of(prepare, DataConfig(source=str(tmp_path / "nan.npy"), window=8, mmap=True))
    assert "1234" in message and "mmap" in message
    csv = tmp_path / "x.csv"
    csv.write_text("a\n1\n2\n")
    assert ".npy" in error_of(prepare, DataConfig(source=str(csv), mmap=True), cls=ConfigError)
    cfg = DataConfig(source=str(path), mmap=True, columns=("0",))
    assert "data.columns" in error_of(prepare, cfg, cls=ConfigError)
