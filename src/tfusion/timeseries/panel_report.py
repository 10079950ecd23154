"""Scores of a panel run (attributes, categorical channels, whole sequences of many lengths).

A panel run is scored on its held-out entities (or windows) against as many synthetic ones:

- the window scores of every time-series run (`report.evaluate_windows`), on fixed-length
  windows cut from both sides (length min(data.window, shortest sequence), stride = length);
- lengths: the distance between the two length distributions (whole sequences);
- attributes: marginals and pairwise associations of the attribute rows;
- each categorical channel: category frequencies and transition matrices;
- coherence: for each categorical attribute, a classifier trained on synthetic sequences to tell
  it from the sequence, tested on real ones (TSTR), beside the same classifier trained on real.

`tfusion.metrics.panel` computes the scores; this module lays the data out for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfusion.data.codec import PanelCodec
from tfusion.metrics.panel import (
    attribute_scores,
    category_scores,
    coherence_score,
    length_scores,
)


def cut_windows(x: np.ndarray, lengths: np.ndarray, length: int) -> np.ndarray:
    """Non-overlapping windows (m, length, C) from each sequence's first `lengths[i]` steps."""
    parts = [
        x[i, k * length : (k + 1) * length]
        for i in range(len(x))
        for k in range(int(lengths[i]) // length)
    ]
    return np.stack(parts) if parts else np.zeros((0, length, x.shape[2]))


def panel_scores(
    codec: PanelCodec,
    real: tuple[np.ndarray, np.ndarray, pd.DataFrame | None],
    synthetic: tuple[np.ndarray, np.ndarray, pd.DataFrame | None],
    seed: int = 0,
) -> dict[str, Any]:
    """The panel scores of (x (n, L, C) original units, lengths (n,), attribute rows) pairs."""
    (rx, rlen, rattr), (sx, slen, sattr) = real, synthetic
    out: dict[str, Any] = {"entities": {"real": len(rx), "synthetic": len(sx)}}
    if codec.lengths is not None:
        out["lengths"] = length_scores(rlen, slen)
    rnum, rcodes = codec.split_channels(rx)
    snum, scodes = codec.split_channels(sx)
    if codec.categorical:
        out["categories"] = {
            name: category_scores(
                [rcodes[i, : rlen[i], k] for i in range(len(rx))],
                [scodes[i, : slen[i], k] for i in range(len(sx))],
                len(levels),
            )
            for k, (name, levels) in enumerate(codec.categorical)
        }
    if codec.attributes and rattr is not None and sattr is not None:
        numeric = [a.name for a in codec.attributes if a.kind == "number"]
        categorical = [a.name for a in codec.attributes if a.kind == "category"]
        out["attributes"] = attribute_scores(rattr, sattr, numeric, categorical)
        coherence = {}
        for a in codec.attributes:
            if a.kind != "category" or len(a.levels) < 2 or not codec.numeric:
                continue
            index = {v: i for i, v in enumerate(a.levels)}
            coherence[a.name] = coherence_score(
                [rnum[i, : rlen[i]] for i in range(len(rx))],
                np.asarray([index[str(v)] for v in rattr[a.name]]),
                [snum[i, : slen[i]] for i in range(len(sx))],
                np.asarray([index[str(v)] for v in sattr[a.name]]),
                seed,
            )
        if coherence:
            out["coherence"] = coherence
    return out


def plot_panel(
    codec: PanelCodec,
    real: tuple[np.ndarray, np.ndarray, pd.DataFrame | None],
    synthetic: tuple[np.ndarray, np.ndarray, pd.DataFrame | None],
    path: Path,
) -> Path | None:
    """One figure: the length histograms, each categorical channel's and attribute's
    frequencies, real beside synthetic. None when there is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfusion.io import atomic_path

    (rx, rlen, rattr), (sx, slen, sattr) = real, synthetic
    panels: list[tuple[str, Any]] = []
    if codec.lengths is not None:
        panels.append(("lengths", None))
    panels += [(f"channel {name}", k) for k, (name, _) in enumerate(codec.categorical)]
    if rattr is not None and sattr is not None:
        panels += [(f"attribute {a.name}", a) for a in codec.attributes]
    if not panels:
        return None
    _, rcodes = codec.split_channels(rx)
    _, scodes = codec.split_channels(sx)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), squeeze=False)
    for ax, (title, what) in zip(axes[0], panels):
        if what is None:
            bins = np.linspace(min(rlen.min(), slen.min()), max(rlen.max(), slen.max()) + 1, 21)
            ax.hist(rlen, bins, alpha=0.6, density=True, label="real")
            ax.hist(slen, bins, alpha=0.6, density=True, label="synthetic")
        elif isinstance(what, int):
            levels = codec.categorical[what][1]
            r = np.concatenate([rcodes[i, : rlen[i], what] for i in range(len(rx))])
            s = np.concatenate([scodes[i, : slen[i], what] for i in range(len(sx))])
            _bars(
                ax,
                levels,
                np.bincount(r, minlength=len(levels)),
                np.bincount(s, minlength=len(levels)),
            )
        elif what.kind == "category":
            r = rattr[what.name].astype(str).value_counts()
            s = sattr[what.name].astype(str).value_counts()
            _bars(
                ax,
                what.levels,
                r.reindex(what.levels, fill_value=0).to_numpy(),
                s.reindex(what.levels, fill_value=0).to_numpy(),
            )
        else:
            ax.hist(rattr[what.name], 20, alpha=0.6, density=True, label="real")
            ax.hist(sattr[what.name], 20, alpha=0.6, density=True, label="synthetic")
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


def _bars(ax: Any, levels: tuple[str, ...], real: np.ndarray, synthetic: np.ndarray) -> None:
    at = np.arange(len(levels))
    ax.bar(at - 0.2, real / max(real.sum(), 1), 0.4, label="real")
    ax.bar(at + 0.2, synthetic / max(synthetic.sum(), 1), 0.4, label="synthetic")
    ax.set_xticks(at, [lv or "(blank)" for lv in levels], rotation=45, fontsize=7)


def panel_markdown(panel: dict[str, Any]) -> list[str]:
    """The panel section of report.md."""
    lines = ["## panel scores", ""]
    ent = panel.get("entities", {})
    lines += [f"{ent.get('real')} real and {ent.get('synthetic')} synthetic sequences.", ""]
    if "lengths" in panel:
        ln = panel["lengths"]
        lines.append(
            f"- lengths: Wasserstein / real mean {ln['wasserstein']:.4f}, KS {ln['ks']:.4f} "
            f"(mean {ln['real_mean']:.1f} real, {ln['synthetic_mean']:.1f} synthetic)"
        )
    for name, c in panel.get("categories", {}).items():
        lines.append(
            f"- channel {name}: category frequency TVD {c['frequency_tvd']:.4f}, "
            f"transition-matrix MAE {c['transition_mae']:.4f}"
        )
    if "attributes" in panel:
        a = panel["attributes"]
        marg = ", ".join(f"{k} {v:.4f}" for k, v in a["marginal"].items())
        lines.append(f"- attribute marginals (TVD, or W1 / std for numbers): {marg}")
        if a.get("association_mean") is not None:
            lines.append(
                f"- attribute association, mean |real - synthetic|: {a['association_mean']:.4f}"
            )
    for name, c in panel.get("coherence", {}).items():
        trtr = "n/a" if c["trtr_accuracy"] is None else f"{c['trtr_accuracy']:.3f}"
        lines.append(
            f"- coherence of {name} (predicted from the sequence): train synthetic / test real "
            f"{c['tstr_accuracy']:.3f}, train real (cross-validated) {trtr}, "
            f"majority class {c['majority']:.3f} (higher is better)"
        )
    lines.append("")
    return lines


def _level(value: object) -> str:
    """A category cell as the loader writes levels: numbers without a trailing .0 (a float
    column's 1.0 and an integer column's 1 are one level), missing cells (NaN, None, <NA>)
    as ""."""
    from tfusion.data.cells import number_text

    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return number_text(float(value))
    return str(value).strip()


def _numeric(column: pd.Series) -> bool:
    """Whether every present cell of a column reads as a number."""
    present = column.dropna()
    return bool(len(present)) and bool(pd.to_numeric(present, errors="coerce").notna().all())


def score_tables(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    entity: str,
    time: str | None = None,
    static: tuple[str, ...] | list[str] = (),
    categorical: tuple[str, ...] | list[str] = (),
    window: int = 24,
    seed: int = 0,
) -> dict[str, Any]:
    """Score any generator's long-format table against a real one, with tfusion's panel scores
    and the window distances (`distribution_scores` on windows of min(window, shortest length)
    numeric steps cut from both sides). Both tables need the columns named here; the numeric
    channels are the other columns."""
    from tfusion.metrics.distribution import distribution_scores

    static = list(static)
    cat_channels = [c for c in categorical if c not in static]
    skip = {entity, *([] if time is None else [time]), *static, *cat_channels}
    numeric = [c for c in real.columns if c not in skip]
    sides = {}
    for side, frame in (("real", real), ("synthetic", synthetic)):
        missing = [c for c in real.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"the {side} table lacks columns {missing}")
        if time is not None:
            frame = frame.sort_values([entity, time], kind="stable")
        groups = [g for _, g in frame.groupby(entity, sort=False)]
        sides[side] = groups
    out: dict[str, Any] = {}
    rlen = np.asarray([len(g) for g in sides["real"]])
    slen = np.asarray([len(g) for g in sides["synthetic"]])
    out["entities"] = {"real": len(rlen), "synthetic": len(slen)}
    out["lengths"] = length_scores(rlen, slen)
    if static:
        ra = pd.DataFrame([g[static].iloc[0] for g in sides["real"]]).reset_index(drop=True)
        sa = pd.DataFrame([g[static].iloc[0] for g in sides["synthetic"]]).reset_index(drop=True)
        # a text attribute is a category, as data.static reads it, listed in categorical or not
        cat_static = [c for c in static if c in categorical or not _numeric(ra[c])]
        num_static = [c for c in static if c not in cat_static]
        for frame in (ra, sa):
            for c in cat_static:
                frame[c] = [_level(v) for v in frame[c]]
            for c in num_static:
                frame[c] = pd.to_numeric(frame[c], errors="coerce")
        out["attributes"] = attribute_scores(ra, sa, num_static, cat_static)
        coherence = {}
        for c in cat_static:
            levels = sorted(set(ra[c]) | set(sa[c]))
            index = {v: i for i, v in enumerate(levels)}
            if len(set(ra[c])) < 2 or not numeric:
                continue
            coherence[c] = coherence_score(
                [g[numeric].to_numpy(np.float64) for g in sides["real"]],
                np.asarray([index[v] for v in ra[c]]),
                [g[numeric].to_numpy(np.float64) for g in sides["synthetic"]],
                np.asarray([index[v] for v in sa[c]]),
                seed,
            )
        if coherence:
            out["coherence"] = coherence
    if cat_channels:
        out["categories"] = {}
        for c in cat_channels:
            levels = sorted(
                {_level(v) for g in sides["real"] for v in g[c]}
                | {_level(v) for g in sides["synthetic"] for v in g[c]}
            )
            index = {v: i for i, v in enumerate(levels)}
            codes = {
                side: [np.asarray([index[_level(v)] for v in g[c]]) for g in groups]
                for side, groups in sides.items()
            }
            out["categories"][c] = category_scores(codes["real"], codes["synthetic"], len(levels))
    width = int(min(window, rlen.min(), slen.min()))
    cut = {}
    for side, groups in sides.items():
        parts = [
            g[numeric].to_numpy(np.float64)[k * width : (k + 1) * width]
            for g in groups
            for k in range(len(g) // width)
        ]
        cut[side] = np.stack(parts)
    out["windows"] = {"length": width, **distribution_scores(cut["real"], cut["synthetic"], seed)}
    return out
