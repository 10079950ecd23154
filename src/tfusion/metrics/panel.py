"""Scores for synthetic panel data: many sequences, per-entity attributes, categorical channels.

Every score compares real against synthetic; 0 means identical and higher is worse unless stated.
All return values are plain Python (float, int, str, list, dict, None), so they are JSON-safe.

length_scores
    wasserstein: Wasserstein-1 distance between the sequence-length distributions divided by the
    real mean length, in [0, inf) (raw W1 when the real mean is 0). ks: two-sample
    Kolmogorov-Smirnov statistic, in [0, 1]. Means and (population) stds are reported as is.
attribute_scores
    marginal[col]: categorical -> total variation distance of the category frequencies, in
    [0, 1] (a category seen on one side only counts; missing values are a category of their own);
    numeric -> W1 divided by the real std, in [0, inf) (raw W1 when the real std is 0, so equal
    constants give 0). association["a|b"]: |real - synthetic| of the pair's association: Pearson r
    for numeric-numeric (difference in [0, 2]), bias-uncorrected Cramér's V for
    categorical-categorical and the correlation ratio eta for numeric-categorical (both in
    [0, 1]). A side with no variance has association 0, never NaN; rows missing either value are
    left out of that pair.
category_scores
    frequency_tvd: total variation distance of the overall category frequencies, in [0, 1].
    transition_mae: mean absolute difference of the row-normalised transition matrices (within a
    sequence only), over the rows that have a transition on at least one side and all columns;
    a row seen on one side only is compared with a zero row. In [0, 2 / levels].
coherence_score
    Train on synthetic, test on real (TSTR): a random forest predicts one categorical attribute
    from per-sequence summary features. tstr_accuracy and trtr_accuracy (cross-validated on real
    only, the reference) are accuracies in [0, 1], higher is better; majority is the share of the
    most common real class (the chance level); gap = trtr - tstr, 0 is ideal, higher is worse.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp, wasserstein_distance
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score

from tfusion.errors import DataError

# ---------------------------------------------------------------------------------------------
# sequence lengths


def _lengths(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        raise DataError(f"{name} lengths are empty; pass at least one sequence length")
    if not np.isfinite(x).all() or (x < 0).any():
        raise DataError(f"{name} lengths must be finite and non-negative")
    return x


def length_scores(real: np.ndarray, synthetic: np.ndarray) -> dict:
    """W1 (relative to the real mean) and KS statistic between sequence-length distributions."""
    r, s = _lengths(real, "real"), _lengths(synthetic, "synthetic")
    scale = r.mean() if r.mean() > 0 else 1.0
    return {
        "wasserstein": float(wasserstein_distance(r, s) / scale),
        "ks": float(ks_2samp(r, s).statistic),
        "real_mean": float(r.mean()),
        "synthetic_mean": float(s.mean()),
        "real_std": float(r.std()),
        "synthetic_std": float(s.std()),
    }


# ---------------------------------------------------------------------------------------------
# static attributes


def tvd(real: pd.Series, synthetic: pd.Series) -> float:
    """Total variation distance of two category-frequency tables (union of categories)."""
    p = real.value_counts(normalize=True, dropna=False)
    q = synthetic.value_counts(normalize=True, dropna=False)
    both = pd.concat([p, q], axis=1).fillna(0.0).to_numpy()
    return float(0.5 * np.abs(both[:, 0] - both[:, 1]).sum())


def _numeric(x: pd.Series, name: str) -> np.ndarray:
    try:
        values = pd.to_numeric(x).to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"attribute {name!r} is listed as numeric but has non-numbers") from e
    return values[np.isfinite(values)]


def _numeric_marginal(real: pd.Series, synthetic: pd.Series, name: str) -> float:
    r, s = _numeric(real, f"{name} (real)"), _numeric(synthetic, f"{name} (synthetic)")
    if r.size == 0 or s.size == 0:
        raise DataError(f"numeric attribute {name!r} has no finite values on one side")
    std = r.std()
    return float(wasserstein_distance(r, s) / (std if std > 0 else 1.0))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r; 0 when either side is constant (or fewer than 2 values)."""
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    """Bias-uncorrected Cramér's V, sqrt(chi2 / (n (min(r, c) - 1))); 0 for a single category."""
    table = pd.crosstab(a, b).to_numpy(dtype=np.float64)
    n = table.sum()
    k = min(table.shape) - 1 if table.size else 0
    if n == 0 or k < 1:
        return 0.0
    expected = table.sum(axis=1, keepdims=True) @ table.sum(axis=0, keepdims=True) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(min(1.0, np.sqrt(chi2 / (n * k))))


def correlation_ratio(values: np.ndarray, groups: pd.Series) -> float:
    """eta = sqrt(between-group / total sum of squares); 0 when the values are constant."""
    frame = pd.DataFrame({"v": values, "g": groups.to_numpy()})
    total = ((frame["v"] - frame["v"].mean()) ** 2).sum()
    if frame.shape[0] < 2 or total == 0:
        return 0.0
    stats = frame.groupby("g", dropna=False)["v"].agg(["mean", "size"])
    between = (stats["size"] * (stats["mean"] - frame["v"].mean()) ** 2).sum()
    return float(min(1.0, np.sqrt(between / total)))


def _association(df: pd.DataFrame, a: str, b: str, numeric: set[str]) -> float:
    pair = df[[a, b]].dropna()
    if a in numeric and b in numeric:
        x, y = (pd.to_numeric(pair[c]).to_numpy(dtype=np.float64) for c in (a, b))
        return pearson(x, y)
    if a not in numeric and b not in numeric:
        return cramers_v(pair[a], pair[b])
    num, cat = (a, b) if a in numeric else (b, a)
    return correlation_ratio(pd.to_numeric(pair[num]).to_numpy(dtype=np.float64), pair[cat])


def _check_columns(
    real: pd.DataFrame, synthetic: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> None:
    names = list(numeric) + list(categorical)
    if len(set(names)) != len(names):
        raise DataError("an attribute is listed twice (numeric and categorical must not overlap)")
    for side, df in (("real", real), ("synthetic", synthetic)):
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise DataError(f"{side} attributes lack columns {missing}")
        if df.shape[0] == 0:
            raise DataError(f"{side} attributes have no rows")


def attribute_scores(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
) -> dict:
    """Marginal distances per attribute and association differences per attribute pair."""
    _check_columns(real, synthetic, numeric, categorical)
    marginal = {str(c): _numeric_marginal(real[c], synthetic[c], str(c)) for c in numeric}
    marginal.update({str(c): tvd(real[c], synthetic[c]) for c in categorical})
    is_numeric = set(numeric)
    association = {}
    for a, b in combinations(list(numeric) + list(categorical), 2):
        r = _association(real, a, b, is_numeric)
        s = _association(synthetic, a, b, is_numeric)
        association[f"{a}|{b}"] = {"real": r, "synthetic": s, "difference": abs(r - s)}
    return {
        "marginal": marginal,
        "marginal_mean": float(np.mean(list(marginal.values()))) if marginal else None,
        "association": association,
        "association_mean": (
            float(np.mean([v["difference"] for v in association.values()])) if association else None
        ),
    }


# ---------------------------------------------------------------------------------------------
# categorical channels


def _codes(seqs: list[np.ndarray], levels: int, name: str) -> list[np.ndarray]:
    out = [np.asarray(s).ravel() for s in seqs]
    for s in out:
        if s.size and (not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() >= levels):
            raise DataError(f"{name} categories must be integer codes in 0..{levels - 1}")
    if sum(s.size for s in out) == 0:
        raise DataError(f"{name} category sequences are all empty")
    return [s.astype(np.int64) for s in out]


def frequencies(seqs: list[np.ndarray], levels: int) -> np.ndarray:
    """Share of each code over all time steps of all sequences."""
    counts = sum(np.bincount(s, minlength=levels) for s in seqs)
    return counts / counts.sum()


def transition_counts(seqs: list[np.ndarray], levels: int) -> np.ndarray:
    """levels x levels counts of code i followed by code j within one sequence."""
    counts = np.zeros((levels, levels))
    for s in seqs:
        np.add.at(counts, (s[:-1], s[1:]), 1)
    return counts


def _row_normalise(counts: np.ndarray) -> np.ndarray:
    rows = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)


def category_scores(real: list[np.ndarray], synthetic: list[np.ndarray], levels: int) -> dict:
    """Frequency TVD and transition-matrix MAE of one categorical channel."""
    if levels < 1:
        raise DataError(f"levels must be at least 1, got {levels}")
    r, s = _codes(real, levels, "real"), _codes(synthetic, levels, "synthetic")
    p, q = frequencies(r, levels), frequencies(s, levels)
    tr, ts = transition_counts(r, levels), transition_counts(s, levels)
    used = (tr.sum(axis=1) > 0) | (ts.sum(axis=1) > 0)
    diff = np.abs(_row_normalise(tr) - _row_normalise(ts))[used]
    return {
        "frequency_tvd": float(0.5 * np.abs(p - q).sum()),
        "transition_mae": float(diff.mean()) if diff.size else 0.0,
        "real_frequencies": p.tolist(),
        "synthetic_frequencies": q.tolist(),
    }


# ---------------------------------------------------------------------------------------------
# attribute-sequence coherence


def lag1_autocorrelation(x: np.ndarray) -> np.ndarray:
    """Per-channel lag-1 autocorrelation of one (length, C) sequence; 0 where undefined."""
    centred = x - x.mean(axis=0)
    denom = (centred**2).sum(axis=0)
    num = (centred[:-1] * centred[1:]).sum(axis=0)
    return np.divide(num, denom, out=np.zeros_like(denom), where=denom > 0)


def sequence_features(x: np.ndarray) -> np.ndarray:
    """Per channel mean, std, min, max, first, last, lag-1 autocorrelation; then the length."""
    stats = [x.mean(0), x.std(0), x.min(0), x.max(0), x[0], x[-1], lag1_autocorrelation(x)]
    return np.concatenate([*stats, [float(x.shape[0])]])


def _feature_matrix(seqs: list[np.ndarray], name: str) -> np.ndarray:
    rows = []
    for x in seqs:
        x = np.asarray(x, dtype=np.float64)
        x = x[:, None] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[0] == 0 or not np.isfinite(x).all():
            raise DataError(f"{name} sequences must be non-empty, finite (length, C) arrays")
        rows.append(sequence_features(x))
    if not rows or len({r.size for r in rows}) != 1:
        raise DataError(f"{name} sequences must be non-empty and share one channel count")
    return np.stack(rows)


def _forest(seed: int) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=200, random_state=seed)


def _trtr(features: np.ndarray, y: np.ndarray, seed: int) -> float | None:
    """Stratified k-fold accuracy on real only, k = min(5, smallest class); None if impossible."""
    classes, counts = np.unique(y, return_counts=True)
    if classes.size == 1:
        return 1.0
    if counts.max() < 2:
        return None
    folds = StratifiedKFold(max(2, min(5, int(counts.min()))), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class smaller than the fold count
        return float(cross_val_score(_forest(seed), features, y, cv=folds).mean())


def coherence_score(
    real_x: list[np.ndarray],
    real_y: np.ndarray,
    synthetic_x: list[np.ndarray],
    synthetic_y: np.ndarray,
    seed: int = 0,
) -> dict:
    """Train-on-synthetic-test-on-real accuracy of predicting an attribute from its sequence."""
    fr, fs = _feature_matrix(real_x, "real"), _feature_matrix(synthetic_x, "synthetic")
    yr, ys = np.asarray(real_y).ravel(), np.asarray(synthetic_y).ravel()
    if fr.shape[1] != fs.shape[1]:
        raise DataError("real and synthetic sequences have different channel counts")
    if yr.size != fr.shape[0] or ys.size != fs.shape[0]:
        raise DataError("each sequence needs exactly one label (x and y lengths differ)")
    if np.unique(ys).size == 1:
        tstr = float(np.mean(yr == ys[0]))
    else:
        tstr = float(np.mean(_forest(seed).fit(fs, ys).predict(fr) == yr))
    trtr = _trtr(fr, yr, seed)
    _, counts = np.unique(yr, return_counts=True)
    return {
        "tstr_accuracy": tstr,
        "trtr_accuracy": trtr,
        "majority": float(counts.max() / yr.size),
        "gap": None if trtr is None else trtr - tstr,
    }
