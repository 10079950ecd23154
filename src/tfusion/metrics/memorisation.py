"""Memorisation check: are synthetic windows closer to the training windows than new real ones are?

A generator that copies its training set scores perfectly on every distribution metric, so we ask
how far each synthetic window is from its nearest training window and compare with the same
distance for held-out real (test) windows. A generator that learned the distribution, rather than
the sample, produces windows that are no closer to the training set than test windows are: about
1% of them fall below the 1st percentile of the test-to-train distances and the median ratio is
about 1. Copies sit at distance ~0, below every test distance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfusion.metrics.distribution import check_pair
from tfusion.metrics.prdc import nearest_distances

# Flag a generator when more than this fraction of its windows is closer to the training set than
# 99% of real test windows are: 10x the 1% expected of a generator that does not copy, and far
# above the sampling noise of that 1% for a few hundred windows.
COPY_THRESHOLD = 0.1


def _flat(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Flatten windows to (n, L C) after min-max scaling with the training set's feature ranges."""
    lo = train.min(axis=(0, 1))
    span = train.max(axis=(0, 1)) - lo
    span = np.where(span > 0, span, 1.0)
    return [((x - lo) / span).reshape(len(x), -1) for x in (train, *others)]


def memorisation_check(
    train: np.ndarray,
    test: np.ndarray,
    synthetic: np.ndarray,
    embed: Callable[[np.ndarray], np.ndarray] | None = None,
    threshold: float = COPY_THRESHOLD,
) -> dict[str, float | bool]:
    """Nearest-training-window distances of synthetic vs test windows (n, L, C), and a copy flag.

    Distances are Euclidean on the flattened windows min-max scaled with the training ranges, or
    on `embed(windows)` (n, d) when given (e.g. the Context-FID encoder). `copies_training_data`
    is true when the fraction of synthetic windows closer than the 1st percentile of the
    test-to-train distances exceeds `threshold`. If over 1% of the test windows are themselves
    exact training windows (percentile 0), nothing can be strictly closer and the flag stays off.
    """
    check_pair(train, test)
    check_pair(train, synthetic)
    if embed is None:
        tr, te, sy = _flat(np.asarray(train, np.float64), test, synthetic)
    else:
        tr, te, sy = (np.asarray(embed(x), np.float64) for x in (train, test, synthetic))
    d_test = nearest_distances(te, tr)
    d_syn = nearest_distances(sy, tr)
    p1, p5 = np.percentile(d_test, [1, 5])
    med_test, med_syn = float(np.median(d_test)), float(np.median(d_syn))
    ratio = med_syn / med_test if med_test > 0 else (0.0 if med_syn == 0 else float("inf"))
    # "exact" up to the rounding of the distance computation (~1e-8 relative)
    tol = 1e-6 * max(med_test, float(np.median(tr.std(axis=0))), 1e-12)
    below_p1 = float((d_syn < p1).mean())
    return {
        "median_distance_synthetic": med_syn,
        "median_distance_test": med_test,
        "median_ratio": ratio,
        "fraction_below_test_p1": below_p1,
        "fraction_below_test_p5": float((d_syn < p5).mean()),
        "fraction_exact_copies": float((d_syn <= tol).mean()),
        "threshold": threshold,
        "copies_training_data": bool(below_p1 > threshold),
    }
