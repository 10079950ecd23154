"""The time-series row of the family table: what each verb does with a TransFusion run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfusion.errors import ConfigError, TfusionError
from tfusion.families import EvaluateRequest, Family, SampleRequest
from tfusion.io import CSV_FLOAT, check_out_path, csv_header
from tfusion.timeseries.config import RunConfig
from tfusion.timeseries.presets import PRESET_NOTES, TIMESERIES_PRESETS


def _train(cfg: RunConfig, run: Path, resume: bool) -> Any:
    from tfusion.timeseries.train import train_timeseries

    return train_timeseries(cfg, run, resume=resume)


def _load(run: str | Path, ema: bool = True, device: str | None = None) -> Any:
    from tfusion.timeseries.sample import TimeSeriesRun

    return TimeSeriesRun.load(run, ema=ema, device=device)


def _not_the_training_data(run: Path, target: Path) -> None:
    """Refuse an --out that is the file the run was trained on (it would be overwritten)."""
    from tfusion.runs import read_data_state

    source = read_data_state(run).get("source")
    data = Path(source).expanduser() if isinstance(source, str) else None
    if data is not None and data.is_file() and data.resolve() == target.expanduser().resolve():
        raise ConfigError(
            f"--out {target} is the data file run {run} was trained on; write to another file"
        )


def _sample(run: Path, req: SampleRequest) -> str:
    from tfusion.diffusion.guidance import class_balanced_labels
    from tfusion.runs import read_data_state
    from tfusion.timeseries.entities import check_entity_path, entity_frame, write_frame
    from tfusion.timeseries.sample import TimeSeriesRun, check_sample_path, write_samples

    FAMILY.refuse(req)
    if req.out is None:
        raise TfusionError("--out is required: a .npy or .csv file for the windows")
    state = None
    if req.entities is not None or req.where:  # fail before minutes of sampling, not after
        if req.n is not None and req.entities is None:
            raise TfusionError("--where conditions whole entities: use --entities N, not --n")
        if req.n is not None:
            raise TfusionError("give --n (windows) or --entities (a table of entities), not both")
        if req.entities is not None and req.entities < 1:
            raise TfusionError(f"--entities must be at least 1, got {req.entities}")
        state = read_data_state(run)
        npz_panel = state.get("layout") == "windows" and (state.get("codec") or {}).get(
            "attributes"
        )
        if state.get("layout") != "entities" and not npz_panel:
            raise TfusionError(
                f"--entities needs a run trained on a long-format table with data.entity=COLUMN; "
                f"{run} was trained on {state.get('layout') or 'one series'}; use --n"
            )
        target = check_entity_path(req.out, npz=bool(npz_panel))
    else:
        target = check_sample_path(req.out)
    _not_the_training_data(run, target)
    loaded = TimeSeriesRun.load(run, ema=not req.raw_weights, device=req.device)
    if loaded.codec is not None and loaded.codec.attribute_dim:
        return _sample_panel(loaded, req, state, target)
    if req.where:
        raise TfusionError(
            f"--where needs a run trained with data.static (attributes); {run} has none"
        )
    n = req.entities or (1000 if req.n is None else req.n)
    labels = None
    if req.labels is not None:
        labels = loaded.class_ids([v for v in req.labels.split(",") if v.strip()])
    elif loaded.classes:  # a labelled run: every class in turn, like DiT
        labels = class_balanced_labels(n, len(loaded.classes))
    x = loaded.generate(
        n,
        req.sampler,
        req.steps,
        req.seed,
        req.eta,
        length=req.length,
        progress=True,
        bf16=req.bf16,
        labels=labels,
        guidance=req.guidance,
        spacing=req.spacing,
    )
    names = None
    if labels is not None:
        ids = np.repeat(labels, len(x)) if len(labels) == 1 else labels
        names = [loaded.classes[i] for i in ids]
    if state is not None:
        d = loaded.cfg.data
        assert d.entity is not None
        frame = entity_frame(
            x,
            loaded.columns,
            state,
            d.entity,
            d.time,
            reverse=d.reverse,
            labels=None if names is None or d.label is None else (d.label, names),
            seed=req.seed,
            codec=loaded.codec,  # categorical channels as levels, ints rounded, input order
        )
        write_frame(frame, target)
        return (
            f"wrote {n} synthetic entities of {x.shape[1]} steps x {x.shape[2]} channels "
            f"({len(frame)} rows; columns {', '.join(map(str, frame.columns))}) to {target}"
        )
    write_samples(x, target, loaded.columns, names)
    return f"wrote {x.shape[0]} windows of shape {x.shape[1:]} (L, C) to {target}"


def _sample_panel(loaded: Any, req: SampleRequest, state: Any, target: Path) -> str:
    """Entities of a panel run (attributes, lengths): attribute rows, then sequences."""
    from tfusion.timeseries.entities import entity_frame, write_frame, write_sequences
    from tfusion.timeseries.sample import generate_panel, read_where

    if state is None:
        raise TfusionError(
            f"{loaded.path} learned attributes or lengths with its sequences: sample it with "
            "--entities N --out FILE.csv (or .parquet)"
        )
    for name in ("labels", "length", "eta", "spacing", "bf16"):
        if name in req.given():
            raise TfusionError(f"--{name} does not apply to a panel run's --entities; leave it out")
    where = read_where(req.where)
    if where is None or isinstance(where, dict):
        if req.entities is None:
            raise TfusionError("give --entities N: how many synthetic entities to draw")
        n = req.entities
    else:
        if req.entities is not None and req.entities != len(where):
            raise TfusionError(
                f"--entities {req.entities} but the --where table has {len(where)} rows; "
                "one entity is drawn per row: leave --entities out or match it"
            )
        n = len(where)
    panel = generate_panel(
        loaded, n, where, req.seed, req.sampler, req.steps, req.guidance, progress=True
    )
    d = loaded.cfg.data
    if target.suffix.lower() == ".npz":  # sequences in, sequences out
        write_sequences(panel, loaded.codec, target, reverse=d.reverse)
        return (
            f"wrote {n} synthetic sequences (lengths {int(panel.lengths.min())}-"
            f"{int(panel.lengths.max())}, attributes {', '.join(panel.attributes.columns)}) "
            f"to {target}"
        )
    frame = entity_frame(
        panel.x,
        loaded.columns,
        state,
        d.entity or "sequence",
        d.time,
        reverse=d.reverse,
        seed=req.seed,
        lengths=panel.lengths,
        attributes=panel.attributes,
        codec=loaded.codec,
    )
    write_frame(frame, target)
    return (
        f"wrote {n} synthetic entities ({len(frame)} rows, lengths {int(panel.lengths.min())}-"
        f"{int(panel.lengths.max())}; columns {', '.join(map(str, frame.columns))}) to {target}"
    )


def _suite(req: EvaluateRequest) -> Any:
    from tfusion.metrics.suite import DEFAULT_METRICS, SuiteConfig

    if req.metrics == "none":
        return None
    metrics = tuple(req.metrics.split(",")) if req.metrics else DEFAULT_METRICS
    suite = SuiteConfig(
        metrics=metrics,
        repeats=req.repeats,
        long_repeats=req.long_repeats,
        seed=req.seed,
        workers=req.workers,
    )
    return suite.scaled(0.1) if req.quick else suite


def _report_lines(report: dict[str, Any]) -> str:
    from tfusion.metrics.stats import format_ci

    s = report["scores"]["synthetic"]
    lines = ["  ".join(f"{k}={v:.4f}" for k, v in s.items())]
    for k, v in (report.get("suite") or {}).get("synthetic", {}).items():
        if isinstance(v, dict) and "mean" in v:
            lines.append(f"{k}: {format_ci(v)}")
    lines.append(f"report: {Path(report['out']) / 'report.md'}")
    return "\n".join(lines)


def _evaluate(run: Path, req: EvaluateRequest) -> str:
    from tfusion.timeseries.evaluate import evaluate_run

    report = evaluate_run(
        run,
        req.out,
        n=req.n,
        sampler=req.sampler,
        steps=req.steps,
        seed=req.seed,
        suite=_suite(req),
        baselines=req.baselines,
        device=req.device,
    )
    return _report_lines(report)


def _evaluate_files(
    real: str, synthetic: str, req: EvaluateRequest, window: int | None = None
) -> str:
    from tfusion.timeseries.evaluate import evaluate_files

    report = evaluate_files(
        real,
        synthetic,
        req.out or "evaluation",
        window,
        seed=req.seed,
        suite=_suite(req),
        baselines=req.baselines,
        device=req.device,
    )
    return _report_lines(report)


def _conditional_input(
    run: Path, input_path: str, out: str, device: str | None = None
) -> tuple[Any, Any]:
    from tfusion.data import load_table
    from tfusion.timeseries.sample import TimeSeriesRun

    check_out_path(out, (".csv",))
    if Path(out).resolve() == Path(input_path).resolve():
        raise ConfigError(f"--out {out} is the --input file; write the result to another file")
    _not_the_training_data(run, Path(out))
    loaded = TimeSeriesRun.load(run, device=device)
    d = loaded.cfg.data  # the run's reading rules: its sentinels mean missing, its time sorts
    if d.entity is not None or loaded.codec is not None:
        raise ConfigError(
            f"run {run} learned a panel (data.entity / categories): impute and forecast take a "
            "run trained on one numeric series"
        )
    table = load_table(
        input_path,
        loaded.columns,
        missing="keep",
        missing_values=d.missing_values,
        time_column=d.time if d.entity is None else None,
    )
    return loaded, table


def _write_csv(path: str, header: list[str], rows: np.ndarray) -> None:
    from tfusion.io import atomic_path

    with atomic_path(Path(path)) as tmp, open(tmp, "w") as f:
        f.write(csv_header(header))
        np.savetxt(f, rows, delimiter=",", fmt=CSV_FLOAT)


def _impute(
    run: Path, input_path: str, out: str, samples: int, seed: int, device: str | None = None
) -> str:
    from tfusion.timeseries.conditional import impute_series

    loaded, table = _conditional_input(run, input_path, out, device)
    gaps = int(np.isnan(table.values).sum())
    filled = impute_series(loaded, table.values, samples=samples, seed=seed)
    _write_csv(out, list(loaded.columns), filled)
    return f"filled {gaps} missing values in {len(filled)} rows; wrote {out}" + _left_out(
        loaded.columns, table.schema, out
    )


def _left_out(columns: tuple[str, ...] | list[str], schema: tuple[str, ...], out: str) -> str:
    """A notice naming the input's columns that are not the run's (so not in `out`)."""
    extra = [c for c in schema if c not in set(columns)]
    if not extra:
        return ""
    return (
        f"\nnote: {len(extra)} input column(s) are not this run's and are not in {out}: "
        + ", ".join(extra[:8])
        + (" ..." if len(extra) > 8 else "")
    )


def _forecast(
    run: Path,
    input_path: str,
    out: str,
    samples: int,
    seed: int,
    horizon: int,
    device: str | None = None,
) -> str:
    from tfusion.timeseries.conditional import forecast

    loaded, table = _conditional_input(run, input_path, out, device)
    future = forecast(loaded, table.values, horizon, samples=samples, seed=seed)
    steps = np.arange(1, len(future) + 1)[:, None]
    _write_csv(out, ["step", *loaded.columns], np.hstack([steps, future]))
    return f"forecast {len(future)} steps after {len(table.values)} rows; wrote {out}" + _left_out(
        loaded.columns, table.schema, out
    )


def _demo(out: str | Path | None, steps: int | None, preset: str | None) -> Path:
    from tfusion.timeseries.demo import run_demo

    return run_demo(out or "demo_report", steps=steps, preset=preset or "small")


def _describe(run: Path) -> list[str]:
    from tfusion.runs import read_data_state
    from tfusion.timeseries.presets import resolve_model
    from tfusion.timeseries.train import saved_config

    cfg = saved_config(run)
    m = resolve_model(cfg.model)
    state = read_data_state(run)
    columns = state.get("columns", [])
    classes = state.get("classes", [])
    s = cfg.sample
    lines = [
        f"model: preset {m.preset} ({m.arch}, depth {m.depth}, width {m.width}, heads {m.heads}, "
        f"ff {m.ff})",
        f"data: {cfg.data.source}, {len(columns)} channels ({', '.join(columns[:8])}"
        f"{' ...' if len(columns) > 8 else ''}), "
        + (
            f"whole sequences padded to {state.get('window')}"
            if cfg.data.whole
            else f"windows of {cfg.data.window}"
        ),
        f"diffusion: {cfg.diffusion.schedule} schedule, T = {cfg.diffusion.steps}, "
        f"predicts {cfg.diffusion.prediction}",
        f"sampler defaults: {s.sampler}, {s.steps} steps, {s.spacing} spacing, eta {s.eta}",
    ]
    if classes:
        lines.append(f"labels ({cfg.data.label}): {', '.join(map(str, classes[:10]))}")
    layout = state.get("layout")
    if layout == "windows":
        lines.append(
            f"sequences: {state.get('sequences')} pre-cut sequences of "
            f"{state.get('sequence_length')} steps"
        )
    elif layout == "entities":
        ents = state.get("entities") or {}
        lines.append(
            f"entities ({state.get('entity')}): {ents.get('count')} in the data, "
            f"{len(ents.get('kept') or [])} "
            + ("kept" if cfg.data.whole else "long enough for a window")
            + f"; time column {state.get('time')}, step {state.get('frequency')}"
        )
    codec = state.get("codec") or {}
    if codec.get("lengths"):
        lo, hi = codec["lengths"]
        lines.append(f"lengths: learned, {lo} to {hi} steps")
    for name, levels in codec.get("categorical", []):
        lines.append(f"categorical channel {name}: {len(levels)} levels ({', '.join(levels[:8])})")
    for a in codec.get("attributes", []):
        what = (
            f"{len(a['levels'])} levels ({', '.join(a['levels'][:8])})"
            if a["kind"] == "category"
            else f"number, {a['lo']:g} to {a['hi']:g}"
        )
        lines.append(f"attribute {a['name']}: {what}; condition with --where {a['name']}=...")
    return lines


def _presets() -> list[str]:
    lines = ["time-series presets:"]
    for name, p in TIMESERIES_PRESETS.items():
        shape = (
            f"{p['arch']:<6} depth {p['depth']} width {p['width']} heads {p['heads']} ff {p['ff']}"
        )
        lines.append(f"  {name:<18} {shape}  — {PRESET_NOTES.get(name, '')}")
    return lines


FAMILY = Family(
    name="timeseries",
    title="TransFusion: long multivariate time series (Sikder et al. 2023)",
    unit="windows",
    config=RunConfig,
    train=_train,
    load=_load,
    sample=_sample,
    evaluate=_evaluate,
    demo=_demo,
    describe=_describe,
    presets=_presets,
    sample_options=frozenset(
        {"n", "sampler", "steps", "eta", "spacing", "guidance", "raw_weights", "bf16"}
        | {"labels", "length", "entities", "where"}
    ),
    demo_out="demo_report",
    evaluate_files=_evaluate_files,
    impute=_impute,
    forecast=_forecast,
)
