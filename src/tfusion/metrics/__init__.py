"""Scores and reports for synthetic time series."""

from tfusion.metrics.distribution import (
    autocorrelation_distance,
    distribution_scores,
    marginal_distances,
)
from tfusion.metrics.report import evaluate_windows

__all__ = [
    "autocorrelation_distance",
    "distribution_scores",
    "evaluate_windows",
    "marginal_distances",
]
