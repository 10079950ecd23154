"""Summaries of repeated stochastic scores: mean and a 95% t-interval, as Diffusion-TS reports."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import t as student_t


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict[str, float | list[float]]:
    """Mean, half-width of the two-sided t confidence interval, and the values themselves."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = sum(values) / n
    if n == 1:
        return {"mean": mean, "ci95": float("nan"), "values": list(values)}
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = student_t.ppf(0.5 + level / 2, n - 1) * math.sqrt(var / n)
    return {"mean": mean, "ci95": float(half), "values": list(values)}


def format_ci(summary: dict) -> str:
    """'0.123 ± 0.004' (or just the mean for a single run)."""
    if math.isnan(summary["ci95"]):
        return f"{summary['mean']:.3f}"
    return f"{summary['mean']:.3f} ± {summary['ci95']:.3f}"
