"""Generation per model family, and writing samples to files."""

from tfusion.sampling.timeseries import TimeSeriesRun, write_samples

__all__ = ["TimeSeriesRun", "write_samples"]
