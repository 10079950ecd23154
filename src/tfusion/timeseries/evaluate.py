"""`tfusion evaluate`: score a run folder, or any pair of real / synthetic files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tfusion.data import load_table, make_windows
from tfusion.devices import device_of, load_device
from tfusion.errors import DataError
from tfusion.io import staged_folder
from tfusion.metrics.suite import SuiteConfig
from tfusion.timeseries.data import prepare
from tfusion.timeseries.report import evaluate_windows
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import check_same_data


def evaluate_run(
    run: str | Path,
    out: str | Path | None = None,
    n: int = 1000,
    sampler: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    loaded: TimeSeriesRun | None = None,
    extra: dict[str, Any] | None = None,
    suite: SuiteConfig | None = None,
    baselines: bool = True,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Generate `n` windows from a run and score them against its held-out real windows.

    Baselines are built from the training windows, the same data the model saw. The run is
    loaded onto `device` (default the CPU) and the suite's probes train there too, unless the
    suite names its own device; a `loaded` run stays where it is and, without `device`, the
    probes go to its device.
    """
    dev = None if device is None else load_device(device)
    r = loaded or TimeSeriesRun.load(run, device=dev)
    suite = _suite_on(suite, dev, device_of(r.model))
    data = prepare(r.cfg.data)
    check_same_data(Path(run), data, "evaluate")  # its held-out windows are the run's own
    out = Path(out) if out is not None else Path(run) / "evaluation"
    with staged_folder(out) as stage:  # an interrupted evaluation leaves the old report whole
        if r.codec is not None and (r.codec.attribute_dim or r.codec.categorical):
            return _evaluate_panel(
                r, data, run, (out, stage), n, sampler, steps, seed, extra, suite, baselines
            )
        test = data.scaler.inverse_transform(data.test.to_array())
        train = data.train
        pick = np.random.default_rng(seed).choice(len(train), min(len(train), 5000), replace=False)
        reference = data.scaler.inverse_transform(train.batch(np.sort(pick)))
        synthetic = r.generate(n, sampler, steps, seed)
        extra = {
            **(extra or {}),
            "run": str(run),
            "sampling": {"sampler": sampler or r.cfg.sample.sampler, "steps": steps, "n": n},
            "data": {"source": r.cfg.data.source, "window": r.window, "test_windows": len(test)},
            "out": str(out),
        }
        return evaluate_windows(
            test, synthetic, stage, r.columns, reference, seed, baselines, extra=extra, suite=suite
        )


def _evaluate_panel(
    r: TimeSeriesRun,
    data: Any,
    run: str | Path,
    out_stage: tuple[Path, Path],
    n: int,
    sampler: str | None,
    steps: int | None,
    seed: int,
    extra: dict[str, Any] | None,
    suite: SuiteConfig | None,
    baselines: bool,
) -> dict[str, Any]:
    """A panel run against its held-out sequences: panel scores, and the window scores on
    windows cut from both sides (see `tfusion.timeseries.panel_report`)."""
    from tfusion.timeseries.panel_report import cut_windows, panel_scores, plot_panel
    from tfusion.timeseries.sample import generate_panel

    codec = r.codec
    assert codec is not None
    full = data.window
    rx = data.scaler.inverse_transform(data.test.to_array())
    rlen = data.test_lengths if data.test_lengths is not None else np.full(len(rx), full)
    rattr = None
    if codec.attributes and data.test_attrs is not None:
        rattr = codec.decode_attributes(data.test_attrs)[0]
    if data.test_groups is not None:
        # windows of held-out entities: synthetic entities draw attributes one per entity (the
        # attribute model learns one row per entity), so the real side weighs every entity
        # alike too, not by how many windows its length gives
        pick = entity_balanced(data.test_groups, seed)
        rx, rlen = rx[pick], rlen[pick]
        rattr = None if rattr is None else rattr.iloc[pick].reset_index(drop=True)
    if codec.attribute_dim:
        panel = generate_panel(r, n, seed=seed, sampler=sampler, steps=steps)
        sx, slen, sattr = panel.x, panel.lengths, panel.attributes
    else:  # categorical channels only: plain windows
        sx = r.generate(n, sampler, steps, seed)
        slen, sattr = np.full(n, full), None
    out, stage = out_stage
    scores = panel_scores(codec, (rx, rlen, rattr), (sx, slen, sattr), seed)
    figure = plot_panel(codec, (rx, rlen, rattr), (sx, slen, sattr), stage / "panel.png")
    width = min(r.cfg.data.window, int(rlen.min()), int(slen.min()))
    real_w, synth_w = cut_windows(rx, rlen, width), cut_windows(sx, slen, width)
    tx = data.scaler.inverse_transform(data.train.to_array())
    tlen = data.train_lengths if data.train_lengths is not None else np.full(len(tx), full)
    reference = cut_windows(tx, tlen, width)[:5000]
    extra = {
        **(extra or {}),
        "run": str(run),
        "sampling": {"sampler": sampler or r.cfg.sample.sampler, "steps": steps, "n": n},
        "data": {"source": r.cfg.data.source, "window": width, "test_sequences": len(rx)},
        "panel": scores,
        "panel_figure": None if figure is None else figure.name,
        "out": str(out),
    }
    return evaluate_windows(
        real_w, synth_w, stage, r.columns, reference, seed, baselines, extra=extra, suite=suite
    )


def _suite_on(
    suite: SuiteConfig | None, device: torch.device | None, fallback: torch.device | None = None
) -> SuiteConfig | None:
    """`suite` with its probes on `device` if one is given, else on the suite's own device,
    else on `fallback` (the scored run's device)."""
    if suite is None:
        return None
    if device is not None:
        return replace(suite, device=device)
    if suite.device is None and fallback is not None:
        return replace(suite, device=fallback)
    return suite


def load_windows(path: str | Path, window: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Windows (n, L, C) from .npy/.npz arrays, a `tfusion sample` CSV, or a series + `window`."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file {p} not found; check the path")
    suffix = p.suffix.lower()
    if suffix in (".npy", ".npz"):
        try:
            arr = np.load(p, allow_pickle=False)
            if isinstance(arr, np.lib.npyio.NpzFile):
                keys = list(arr.keys())
                if len(keys) != 1:
                    raise DataError(f"{p} holds arrays {keys}; save exactly one (n, L, C) array")
                arr = arr[keys[0]]
        except (OSError, ValueError) as e:
            raise DataError(
                f"{p} is not a readable NumPy file ({str(e).splitlines()[0]})"
            ) from None
        if arr.ndim == 2 and window is None:
            arr = arr[:, :, None]
        if arr.ndim == 3:
            if not np.issubdtype(arr.dtype, np.number):
                raise DataError(f"{p} holds {arr.dtype} values; windows must be numeric")
            return arr.astype(np.float64), [f"f{j}" for j in range(arr.shape[2])]
    if suffix == ".csv":
        head = pd.read_csv(p, nrows=1)
        if list(head.columns[:2]) == ["window", "step"]:
            df = pd.read_csv(p)
            n, length = int(df["window"].max()) + 1, int(df["step"].max()) + 1
            values = df.iloc[:, 2:]
            if len(df) != n * length:
                raise DataError(f"{p} has {len(df)} rows, expected windows x steps = {n * length}")
            return values.to_numpy(np.float64).reshape(n, length, -1), list(values.columns)
    if window is None:
        raise DataError(f"{p} is a series, not windows; pass --window L to cut it into windows")
    table = load_table(p)
    return make_windows(table.values.astype(np.float32), window, 1).to_array().astype(
        np.float64
    ), list(table.columns)


def evaluate_files(
    real: str | Path,
    synthetic: str | Path,
    out: str | Path,
    window: int | None = None,
    seed: int = 0,
    suite: SuiteConfig | None = None,
    baselines: bool = True,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Score synthetic windows from a file against real windows (or a series) from a file.

    `device` (default the suite's own, else the CPU) is where the suite's probes train.
    """
    suite = _suite_on(suite, None if device is None else load_device(device))
    syn, _ = load_windows(synthetic)
    real_w, columns = load_windows(real, window or (syn.shape[1] if syn.ndim == 3 else None))
    if len(real_w) < 2:
        raise DataError(f"{real} gives {len(real_w)} window(s); at least 2 are needed")
    if syn.ndim == 3 and real_w.shape[1:] != syn.shape[1:]:
        hint = (
            " (a 2-D array is read as n univariate windows (n, L); save (n, L, C))"
            if syn.shape[2] == 1 and real_w.shape[2] > 1
            else "; generate with the same window length and features"
        )
        raise DataError(
            f"{synthetic} holds windows of {syn.shape[1]} steps x {syn.shape[2]} features but "
            f"{real} gives {real_w.shape[1]} x {real_w.shape[2]}{hint}"
        )
    with staged_folder(out) as stage:
        return evaluate_windows(
            real_w,
            syn,
            stage,
            columns,
            seed=seed,
            baselines=baselines,
            extra={"out": str(out)},
            suite=suite,
        )


def entity_balanced(groups: np.ndarray, seed: int) -> np.ndarray:
    """As many window indices as `groups` (the entity of each window), drawn (seeded) so that
    every entity is equally likely and, within it, every one of its windows."""
    rng = np.random.default_rng(seed)
    names, members = np.unique(groups, return_inverse=True)
    by_entity = [np.flatnonzero(members == k) for k in range(len(names))]
    chosen = rng.integers(len(names), size=len(groups))
    return np.asarray([by_entity[k][rng.integers(len(by_entity[k]))] for k in chosen])
