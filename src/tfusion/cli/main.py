"""`tfusion train | sample | evaluate | demo | info`: parsing only, the logic is in the library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tfusion.config import SPACINGS
from tfusion.errors import TfusionError


def _say(line: str) -> None:
    """Print once per job: on rank 0 under torchrun."""
    if os.environ.get("RANK", "0") == "0":
        print(line)


def _train(a: argparse.Namespace) -> None:
    from tfusion.config import DiTRunConfig, apply_overrides, family_of, load_config

    family = family_of(a.out if a.resume else a.config)
    if family == "multimodal":
        from tfusion.config import MultimodalRunConfig
        from tfusion.training.multimodal import saved_multimodal_config, train_multimodal

        if a.resume:
            cfg = apply_overrides(saved_multimodal_config(a.out), a.overrides)
        else:
            cfg = load_config(a.config, a.overrides, cls=MultimodalRunConfig)
        result = train_multimodal(cfg, a.out, resume=a.resume)
        _say(
            f"trained {result.steps} steps in {result.seconds:.0f} s, final loss "
            f"{result.final_loss:.4f}; run folder: {result.run}"
        )
        return
    if family == "dit":
        from tfusion.training.dit import saved_dit_config, train_dit

        if a.resume:
            cfg = apply_overrides(saved_dit_config(a.out), a.overrides)
        else:
            cfg = load_config(a.config, a.overrides, cls=DiTRunConfig)
        result = train_dit(cfg, a.out, resume=a.resume)
        unit = "images"
    else:
        from tfusion.training.timeseries import saved_config, train_timeseries

        # a resumed run starts from its own saved config; overrides may extend it (train.steps)
        cfg = saved_config(a.out, a.overrides) if a.resume else load_config(a.config, a.overrides)
        result = train_timeseries(cfg, a.out, resume=a.resume)
        unit = "windows"
    _say(
        f"trained {result.steps} steps in {result.seconds:.0f} s "
        f"({result.windows_per_second:.0f} {unit}/s), final loss {result.final_loss:.4f}; "
        f"run folder: {result.run}"
    )


def _sample(a: argparse.Namespace) -> None:
    from tfusion.config import family_of

    if family_of(a.run) == "dit":
        _sample_images(a)
        return
    import numpy as np

    from tfusion.sampling.timeseries import TimeSeriesRun, check_sample_path, write_samples

    write_target = check_sample_path(a.out)  # fail before minutes of sampling, not after
    run = TimeSeriesRun.load(a.run, ema=not a.raw_weights)
    labels = None
    if a.labels is not None:
        labels = run.class_ids([v for v in a.labels.split(",") if v.strip()])
    elif run.classes:  # a labelled run: every class in turn, like DiT
        from tfusion.training.dit import class_balanced_labels

        labels = class_balanced_labels(a.n, len(run.classes))
    x = run.generate(
        a.n,
        a.sampler,
        a.steps,
        a.seed,
        a.eta,
        length=a.length,
        progress=True,
        bf16=a.bf16,
        labels=labels,
        guidance=a.guidance,
        spacing=a.spacing,
    )
    names = None
    if labels is not None:
        ids = np.repeat(labels, len(x)) if len(labels) == 1 else labels
        names = [run.classes[i] for i in ids]
    write_samples(x, write_target, run.columns, names)
    print(f"wrote {x.shape[0]} windows of shape {x.shape[1:]} (L, C) to {write_target}")


def _sample_images(a: argparse.Namespace) -> None:
    import numpy as np

    from tfusion.sampling.dit import DiTRun, check_image_path, write_images
    from tfusion.training.dit import class_balanced_labels

    target = check_image_path(a.out)
    run = DiTRun.load(a.run, ema=not a.raw_weights)
    if a.labels:
        try:
            labels = np.array([int(v) for v in a.labels.split(",")], dtype=np.int64)
        except ValueError:
            raise TfusionError(f"--labels must be integers like 0,3,3, got {a.labels!r}") from None
    else:
        labels = class_balanced_labels(a.n, len(run.classes))
    x = run.generate(
        labels,
        a.guidance,
        a.sampler,
        a.steps,
        a.seed,
        a.eta,
        bf16=a.bf16,
        progress=True,
        spacing=a.spacing,
    )
    write_images(x, labels, target)
    print(f"wrote {len(x)} images of shape {x.shape[1:]} (C, H, W) to {target}")


def _conditional_input(a: argparse.Namespace):
    from tfusion.data import load_table
    from tfusion.sampling.timeseries import TimeSeriesRun

    if not str(a.out).lower().endswith(".csv"):
        raise TfusionError(f"--out must end in .csv, got {a.out!r}")
    if not Path(a.out).parent.is_dir():
        raise TfusionError(f"folder {Path(a.out).parent} does not exist; create it first")
    run = TimeSeriesRun.load(a.run)
    table = load_table(a.input, run.columns, missing="keep")
    return run, table


def _write_csv(path: str, header: list[str], rows) -> None:
    import numpy as np

    from tfusion.io import atomic_path

    with atomic_path(Path(path)) as tmp, open(tmp, "w") as f:
        f.write(",".join(header) + "\n")
        np.savetxt(f, rows, delimiter=",", fmt="%.7g")


def _impute(a: argparse.Namespace) -> None:
    import numpy as np

    from tfusion.sampling.conditional import impute_series

    run, table = _conditional_input(a)
    gaps = int(np.isnan(table.values).sum())
    filled = impute_series(run, table.values, samples=a.samples, seed=a.seed)
    _write_csv(a.out, list(run.columns), filled)
    print(f"filled {gaps} missing values in {len(filled)} rows; wrote {a.out}")


def _forecast(a: argparse.Namespace) -> None:
    import numpy as np

    from tfusion.sampling.conditional import forecast

    run, table = _conditional_input(a)
    future = forecast(run, table.values, a.horizon, samples=a.samples, seed=a.seed)
    steps = np.arange(1, len(future) + 1)[:, None]
    _write_csv(a.out, ["step", *run.columns], np.hstack([steps, future]))
    print(f"forecast {len(future)} steps after {len(table.values)} rows; wrote {a.out}")


def _evaluate(a: argparse.Namespace) -> None:
    from tfusion.config import family_of

    if a.run is not None and family_of(a.run) == "multimodal":
        from tfusion.metrics.multimodal_report import evaluate_multimodal

        target = a.out or Path(a.run) / "evaluation"
        r = evaluate_multimodal(
            a.run, target, n=min(a.n, 200), sampler=a.sampler, steps=a.steps, seed=a.seed
        )
        for row in r["prompt_adherence"]:
            print(f"guidance {row['guidance']:g}: prompt adherence {row['all']:.2f}")
        print(
            f"captioning (all three right) {r['captioning']['all']:.2f}; "
            f"report: {Path(target) / 'report.md'}"
        )
        return
    if a.run is not None and family_of(a.run) == "dit":
        from tfusion.metrics.image_report import evaluate_dit

        r = evaluate_dit(
            a.run,
            a.out or Path(a.run) / "evaluation",
            n=a.n,
            sampler=a.sampler,
            steps=a.steps,
            seed=a.seed,
        )
        for row in r["by_guidance"]:
            print(
                f"guidance {row['guidance']:g}: FID {row['fid']:.3f}, "
                f"class accuracy {row['class_accuracy']:.3f}"
            )
        print(f"report: {Path(a.out or Path(a.run) / 'evaluation') / 'report.md'}")
        return
    from tfusion.evaluate import evaluate_files, evaluate_run
    from tfusion.metrics.stats import format_ci
    from tfusion.metrics.suite import ALL_METRICS, SuiteConfig

    metrics = tuple(a.metrics.split(",")) if a.metrics else ALL_METRICS
    suite = None
    if a.metrics != "none":
        suite = SuiteConfig(
            metrics=metrics, repeats=a.repeats, long_repeats=a.long_repeats, seed=a.seed
        )
        suite = suite.scaled(0.1) if a.quick else suite
    kw = {"seed": a.seed, "suite": suite, "baselines": not a.no_baselines}
    if a.run is not None:
        if a.real or a.synthetic:
            raise TfusionError("give either a RUN folder or --real and --synthetic, not both")
        report = evaluate_run(a.run, a.out, n=a.n, sampler=a.sampler, steps=a.steps, **kw)
    else:
        if not (a.real and a.synthetic):
            raise TfusionError("give a RUN folder, or both --real DATA and --synthetic SAMPLES")
        report = evaluate_files(a.real, a.synthetic, a.out or "evaluation", a.window, **kw)
    s = report["scores"]["synthetic"]
    print("  ".join(f"{k}={v:.4f}" for k, v in s.items()))
    for k, v in (report.get("suite") or {}).get("synthetic", {}).items():
        if isinstance(v, dict) and "mean" in v:
            print(f"{k}: {format_ci(v)}")
    print(f"report: {Path(report['out']) / 'report.md'}")


def _demo(a: argparse.Namespace) -> None:
    if a.kind == "multimodal":
        from tfusion.demo import run_multimodal_demo

        path = run_multimodal_demo(a.out or "demo_multimodal_report", steps=a.steps)
        print(f"demo report: {path}")
        return
    if a.kind == "dit":
        from tfusion.demo import run_dit_demo

        path = run_dit_demo(a.out or "demo_dit_report", steps=a.steps, preset=a.preset)
        print(f"demo report: {path}")
        return
    from tfusion.demo import run_demo

    path = run_demo(a.out or "demo_report", steps=a.steps, preset=a.preset or "small")
    print(f"demo report: {path}")


def _info(a: argparse.Namespace) -> None:
    from tfusion.info import describe

    print(describe())


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `tfusion` command."""
    p = argparse.ArgumentParser(prog="tfusion", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)

    t = sub.add_parser("train", help="train a time-series or DiT model into a run folder")
    t.add_argument("--config", help="YAML config file (see configs/; `family: dit` for DiT)")
    t.add_argument("--out", default="runs/latest", help="run folder (default runs/latest)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    t.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.steps=500")
    t.set_defaults(fn=_train)

    s = sub.add_parser("sample", help="generate windows (or images) from a run folder")
    s.add_argument("run")
    s.add_argument("--n", type=int, default=1000, help="windows, or class-balanced images")
    s.add_argument("--sampler", choices=["ddpm", "ddim", "dpm++"], default=None)
    s.add_argument("--steps", type=int, default=None, help="default: the run's (ddpm: all T)")
    s.add_argument(
        "--eta",
        type=float,
        default=None,
        help="DDIM / DPM++ noise: 0 = ODE, 1 = SDE (default: the run's sample.eta)",
    )
    s.add_argument(
        "--spacing",
        choices=list(SPACINGS),
        default=None,
        help="where the steps go in time (default: the run's sample.spacing)",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--length", type=int, default=None, help="window length (default: trained L)")
    s.add_argument("--raw-weights", action="store_true", help="use raw weights, not the EMA")
    s.add_argument("--bf16", action="store_true", help="bf16 autocast (faster on recent CPUs)")
    s.add_argument(
        "--labels",
        default=None,
        help="labelled runs: comma list of labels (one for all, or one per window)",
    )
    s.add_argument(
        "--guidance", type=float, default=None, help="labelled runs: classifier-free guidance scale"
    )
    s.add_argument("--out", required=True, help="output file: .npy or .csv (DiT: .npz or .png)")
    s.set_defaults(fn=_sample)

    e = sub.add_parser("evaluate", help="score synthetic windows against real ones")
    e.add_argument("run", nargs="?", help="a run folder (samples are generated)")
    e.add_argument("--real", help="real data: .npy/.npz windows, or a series (.csv, ...)")
    e.add_argument("--synthetic", help="synthetic windows: .npy/.npz, or a `tfusion sample` .csv")
    e.add_argument("--window", type=int, default=None, help="window length for a --real series")
    e.add_argument("--n", type=int, default=1000, help="RUN mode: windows to generate")
    e.add_argument("--sampler", default=None)
    e.add_argument("--steps", type=int, default=None)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", default=None, help="report folder (default RUN/evaluation)")
    e.add_argument("--repeats", type=int, default=5, help="runs of each stochastic score (K)")
    e.add_argument(
        "--long-repeats",
        type=int,
        default=None,
        help="runs of LDS and LPS alone (default --repeats; the slowest scores at long windows)",
    )
    e.add_argument(
        "--metrics", default=None, help="comma list (default all), or 'none' for distances only"
    )
    e.add_argument("--quick", action="store_true", help="10%% of the training budgets (a look)")
    e.add_argument("--no-baselines", action="store_true", help="skip noise/shuffled baselines")
    e.set_defaults(fn=_evaluate)

    for verb, text in (
        ("impute", "fill the missing values (blank/NaN) of a series with a trained run"),
        ("forecast", "extend a series by --horizon steps with a trained run"),
    ):
        c = sub.add_parser(verb, help=text)
        c.add_argument("run", help="a time-series run folder")
        c.add_argument("--input", required=True, help="the series (.csv, .parquet, .npy, ...)")
        c.add_argument("--out", required=True, help="output .csv")
        c.add_argument("--samples", type=int, default=5, help="draws averaged per value")
        c.add_argument("--seed", type=int, default=0)
        if verb == "forecast":
            c.add_argument("--horizon", type=int, required=True, help="steps to forecast")
        c.set_defaults(fn=_impute if verb == "impute" else _forecast)

    d = sub.add_parser("demo", help="train on built-in real data, sample, write a report")
    d.add_argument(
        "kind",
        nargs="?",
        choices=["timeseries", "dit", "multimodal"],
        default="timeseries",
        help="timeseries (GOOG prices, default), dit (MNIST digits) or multimodal (shapes)",
    )
    d.add_argument(
        "--out",
        default=None,
        help="default demo_report (dit: demo_dit_report, multimodal: demo_multimodal_report)",
    )
    d.add_argument("--steps", type=int, default=None, help="training steps (default: the demo's)")
    d.add_argument("--preset", default=None, help="default small (dit: the demo's DiT preset)")
    d.set_defaults(fn=_demo)

    i = sub.add_parser("info", help="list presets, samplers, schedules and built-in data")
    i.set_defaults(fn=_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a verb; user errors print one line and exit with code 2."""
    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except TfusionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
