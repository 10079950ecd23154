"""Scores that know no family's internals (LDS, LPS, Context-FID, FID, PRDC, ...)."""

from tfusion.metrics.distribution import (
    autocorrelation_distance,
    distribution_scores,
    marginal_distances,
)

__all__ = [
    "autocorrelation_distance",
    "distribution_scores",
    "marginal_distances",
]
