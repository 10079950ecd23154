"""Training loop, optimiser and LR schedule, EMA, crash-safe checkpoints."""

from tfusion.training.loop import FitResult, fit

__all__ = ["FitResult", "fit"]
