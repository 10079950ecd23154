"""Score synthetic windows against real ones and write `report.json` + `report.md` with PNGs."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfusion import __version__
from tfusion.config import to_dict
from tfusion.io import atomic_write_text
from tfusion.metrics.baselines import gaussian_windows, shuffled_windows
from tfusion.metrics.distribution import check_pair, distribution_scores
from tfusion.metrics.plots import (
    plot_autocorrelation,
    plot_embedding,
    plot_histograms,
    plot_sequences,
)
from tfusion.metrics.stats import format_ci
from tfusion.metrics.suite import LABELS, SuiteConfig, score_suite

SCORE_NAMES = {
    "marginal_wasserstein": "marginal Wasserstein-1 (values)",
    "marginal_jsd": "marginal Jensen-Shannon divergence",
    "increment_wasserstein": "Wasserstein-1 of one-step increments",
    "autocorrelation_distance": "autocorrelation distance",
}


def evaluate_windows(
    real: np.ndarray,
    synthetic: np.ndarray,
    out: str | Path,
    columns: Sequence[str] | None = None,
    reference: np.ndarray | None = None,
    seed: int = 0,
    baselines: bool = True,
    plots: bool = True,
    extra: dict[str, Any] | None = None,
    suite: SuiteConfig | None = None,
) -> dict[str, Any]:
    """Score `synthetic` against `real` (and trivial baselines built from `reference`).

    `reference` is the data a generator was trained on (defaults to `real`); baselines built from
    it are held to the same standard as the model. Returns the report dict also written as JSON.
    """
    t0 = time.perf_counter()
    check_pair(real, synthetic)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    columns = list(columns or [f"f{j}" for j in range(real.shape[2])])
    ref = real if reference is None else reference
    scores = {"synthetic": distribution_scores(real, synthetic, seed)}
    if baselines:
        n = len(synthetic)
        scores["gaussian_noise"] = distribution_scores(real, gaussian_windows(ref, n, seed), seed)
        scores["shuffled_real"] = distribution_scores(real, shuffled_windows(ref, n, seed), seed)
    suite_scores: dict[str, Any] = {}
    if suite is not None:
        encoders: dict = {}  # the baselines reuse the synthetic set's Context-FID encoders
        suite_scores["synthetic"] = score_suite(
            real, synthetic, suite, train=reference, encoders=encoders
        )
        if baselines:
            n = len(synthetic)
            base = {
                "gaussian_noise": gaussian_windows(ref, n, seed),
                "shuffled_real": shuffled_windows(ref, n, seed),
            }
            for name, x in base.items():
                suite_scores[name] = score_suite(real, x, suite, train=reference, encoders=encoders)
    figures: dict[str, str] = {}
    if plots:
        figures["sequences"] = plot_sequences(real, synthetic, columns, out / "sequences.png").name
        figures["histograms"] = plot_histograms(
            real, synthetic, columns, out / "histograms.png"
        ).name
        figures["autocorrelation"] = plot_autocorrelation(
            real, synthetic, columns, out / "autocorrelation.png"
        ).name
        figures["pca"] = plot_embedding(real, synthetic, out / "pca.png", "pca", seed).name
        figures["tsne"] = plot_embedding(real, synthetic, out / "tsne.png", "tsne", seed).name
    report = {
        "scores": scores,
        "suite": suite_scores,
        "suite_config": to_dict(suite) if suite is not None else None,
        "shapes": {"real": list(real.shape), "synthetic": list(synthetic.shape)},
        "columns": columns,
        "seed": seed,
        "figures": figures,
        "versions": {
            "tfusion": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "wall_time_s": time.perf_counter() - t0,
        **(extra or {}),
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=str))
    atomic_write_text(out / "report.md", render_markdown(report))
    return report


def render_markdown(report: dict[str, Any]) -> str:
    """A short human-readable report with the score table and the figures."""
    scores = report["scores"]
    names = list(scores)
    lines = [
        "# tfusion evaluation report",
        "",
        f"Real windows {tuple(report['shapes']['real'])}, synthetic "
        f"{tuple(report['shapes']['synthetic'])} (n, L, C); seed {report['seed']}. "
        "Lower is better for every score; values are computed after min-max scaling both sets "
        "with the real data's per-feature range.",
        "",
    ]
    for key in ("title", "summary"):
        if key in report:
            lines += [str(report[key]), ""]
    lines.append("| score | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for key, label in SCORE_NAMES.items():
        row = [f"{scores[n][key]:.4f}" for n in names]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        "`shuffled_real` are real windows with their time steps permuted: their value marginals "
        "are right by construction, so only the increment and autocorrelation scores can expose "
        "them. `gaussian_noise` has the real per-feature mean and std."
    )
    lines.append("")
    lines += _suite_markdown(report.get("suite") or {})
    if report.get("panel"):
        from tfusion.timeseries.panel_report import panel_markdown

        lines += panel_markdown(report["panel"])
        if report.get("panel_figure"):
            lines += [f"![panel]({report['panel_figure']})", ""]
    for title, fig in report.get("figures", {}).items():
        lines += [f"## {title}", "", f"![{title}]({fig})", ""]
    return "\n".join(lines)


def _suite_markdown(suite: dict[str, Any]) -> list[str]:
    """The benchmark-score table (mean ± 95% CI over repeats) and the extra checks."""
    if not suite:
        return []
    names = list(suite)
    lines = ["## Benchmark scores (mean ± 95% CI over repeats; lower is better)", ""]
    lines.append("| score | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for key, label in LABELS.items():
        if key in suite[names[0]]:
            cells = [format_ci(suite[n][key]) if key in suite[n] else "-" for n in names]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    first = suite[names[0]]
    if "prdc" in first:
        lines.append(
            "Precision / recall / density / coverage on TS2Vec embeddings (higher is better):"
        )
        lines.append("")
        lines.append("| set | precision | recall | density | coverage |")
        lines.append("|---|---|---|---|---|")
        for n in names:
            p = suite[n].get("prdc", {})
            cells = [
                f"{p.get(k, float('nan')):.3f}"
                for k in ("precision", "recall", "density", "coverage")
            ]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    if "memorisation" in first:
        m = first["memorisation"]
        lines.append(
            "Memorisation check (synthetic vs training windows): "
            + ", ".join(
                f"{k} = {v:.3f}" if isinstance(v, float) else f"{k} = {v}" for k, v in m.items()
            )
        )
        lines.append("")
    return lines
