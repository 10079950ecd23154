"""Training loop, optimiser and LR schedule, EMA, crash-safe checkpoints."""

from tfusion.training.loop import FitResult, fit
from tfusion.training.timeseries import train_timeseries

__all__ = ["FitResult", "fit", "train_timeseries"]
