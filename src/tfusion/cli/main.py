"""`tfusion train | sample | evaluate | impute | forecast | demo | info`: parsing only.

Every verb looks the run's family up in `tfusion.families` and calls that family's function;
the logic is in the library.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from tfusion import families
from tfusion.config import MAX_SEED
from tfusion.diffusion.samplers import SAMPLERS
from tfusion.diffusion.schedules import SPACINGS
from tfusion.errors import TfusionError
from tfusion.runs import DEFAULT_FAMILY, FAMILY_NAMES


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _seed(text: str) -> int:
    """argparse type: a seed, 0 to 2^62 (each row adds its index to it; torch takes < 2^64)."""
    value = _whole(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be 0 to 2^62, got {value}")
    return value


def _at_least_one(text: str) -> int:
    """argparse type: a whole number >= 1 (0 would silently mean "the default")."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _say(line: str) -> None:
    """Print once per job: on rank 0 under torchrun."""
    if os.environ.get("RANK", "0") == "0":
        print(line)


def _train(a: argparse.Namespace) -> None:
    if a.resume and a.config is not None:  # it was ignored: the run's own config.yaml rules
        raise TfusionError(
            "--resume continues a run from its own config.yaml; leave --config out and give "
            "any changes as key=value settings"
        )
    fam = families.of(a.out if a.resume else a.config)
    if a.resume:  # a resumed run starts from its own saved config; overrides may extend it
        cfg = fam.saved_config(a.out, a.overrides)
    else:
        cfg = fam.new_config(a.config, a.overrides)
    result = fam.train(cfg, Path(a.out), a.resume)
    # a resumed run that had nothing left to do trained no step here, so it has no loss
    loss = (
        f"final loss {result.final_loss:.4f}"
        if math.isfinite(result.final_loss)
        else "no step left to train (the run was already finished)"
    )
    _say(
        f"trained {result.steps} steps in {result.seconds:.0f} s "
        f"({result.windows_per_second:.0f} {fam.unit}/s, {result.device} {result.precision}), "
        f"{loss}; run folder: {result.run}"
    )


def _sample(a: argparse.Namespace) -> None:
    from tfusion.runs import check_run_exists

    run = check_run_exists(a.run)
    given = {f.name: getattr(a, f.name) for f in fields(families.SampleRequest)}
    req = families.SampleRequest(**{**given, "where": tuple(a.where)})
    print(families.of(run).sample(run, req))


def _conditional(a: argparse.Namespace) -> None:
    from tfusion.runs import check_run_exists

    run = check_run_exists(a.run)
    fam = families.of(run)
    fn = getattr(fam, a.verb)
    if fn is None:
        raise TfusionError(f"`tfusion {a.verb}` applies to time-series runs; {run} is {fam.name}")
    extra = (a.horizon,) if a.verb == "forecast" else ()
    print(fn(run, a.input, a.out, a.samples, a.seed, *extra, device=a.device))


def _evaluate(a: argparse.Namespace) -> None:
    if a.out is not None:
        from tfusion.io import check_out_folder

        check_out_folder(a.out)
    req = families.EvaluateRequest(
        out=a.out,
        n=a.n,
        sampler=a.sampler,
        steps=a.steps,
        seed=a.seed,
        repeats=5 if a.repeats is None else a.repeats,
        long_repeats=a.long_repeats,
        metrics=a.metrics,
        quick=a.quick,
        baselines=not a.no_baselines,
        device=a.device,
        workers=a.workers,
    )
    if a.run is not None:
        from tfusion.runs import check_run_exists

        if a.real or a.synthetic:
            raise TfusionError("give either a RUN folder or --real and --synthetic, not both")
        if a.window is not None:  # it was ignored: a run evaluates on its own windows
            raise TfusionError("--window cuts a --real series; a RUN evaluates at its own window")
        run = check_run_exists(a.run)
        fam = families.of(run)
        if fam.name != DEFAULT_FAMILY:  # images' reports have their own scores and budgets
            suite_flags = {
                "--metrics": a.metrics is not None,
                "--repeats": a.repeats is not None,
                "--long-repeats": a.long_repeats is not None,
                "--quick": a.quick,
                "--no-baselines": a.no_baselines,
                "--workers": a.workers is not None,
            }
            given = [flag for flag, on in suite_flags.items() if on]
            if given:
                raise TfusionError(
                    f"{', '.join(given)} set{'s' if len(given) == 1 else ''} the time-series "
                    f"scores; a {fam.name} run's report has its own: drop "
                    f"{'it' if len(given) == 1 else 'them'}"
                )
        print(fam.evaluate(run, req))
        return
    if not (a.real and a.synthetic):
        raise TfusionError("give a RUN folder, or both --real DATA and --synthetic SAMPLES")
    fam = families.get(DEFAULT_FAMILY)
    assert fam.evaluate_files is not None
    print(fam.evaluate_files(a.real, a.synthetic, req, a.window))


def _demo(a: argparse.Namespace) -> None:
    path = families.get(a.kind).demo(a.out, a.steps, a.preset)
    print(f"demo report: {path}")


def _info(a: argparse.Namespace) -> None:
    from tfusion.info import describe, describe_run

    print(describe() if a.run is None else describe_run(a.run))


DEVICE_HELP = "where to run: auto (CUDA, else MPS, else CPU; the default), cpu, cuda, cuda:N, mps"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `tfusion` command."""
    p = argparse.ArgumentParser(prog="tfusion", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)

    t = sub.add_parser("train", help="train a model of any family into a run folder")
    t.add_argument(
        "--config", help="YAML config file (see configs/; `family: dit | multimodal` picks one)"
    )
    t.add_argument("--out", default="runs/latest", help="run folder (default runs/latest)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    t.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.steps=500")
    t.set_defaults(fn=_train)

    s = sub.add_parser(
        "sample",
        help="generate from a run: windows, images, images from a prompt, captions, stories",
    )
    s.add_argument("run")
    s.add_argument(
        "--n", type=int, default=None, help="windows or images (default 1000; prompt: 1)"
    )
    s.add_argument("--sampler", choices=list(SAMPLERS), default=None)
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
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--length", type=_at_least_one, default=None, help="time series: window length")
    s.add_argument(
        "--entities",
        type=int,
        default=None,
        help="runs trained with data.entity: this many synthetic entities, written as a .csv or "
        ".parquet table with the input's schema (entity, time, label, channels)",
    )
    s.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="NAME=VALUE|TABLE",
        help="runs trained with data.static: fix attributes (repeatable, e.g. --where sector=tech) "
        "or give a .csv/.parquet of attribute rows, one synthetic entity per row",
    )
    s.add_argument("--raw-weights", action="store_true", help="use raw weights, not the EMA")
    s.add_argument("--device", default="auto", help=DEVICE_HELP)
    s.add_argument("--bf16", action="store_true", help="bf16 autocast (faster on recent CPUs)")
    s.add_argument(
        "--labels",
        default=None,
        help="labelled runs: comma list of labels (one for all, or one per window)",
    )
    s.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    s.add_argument(
        "--prompt",
        default=None,
        help="multimodal: a caption to draw, or text to go on; a text-conditioned DiT: a caption",
    )
    s.add_argument("--caption", default=None, help="multimodal: an image file to caption")
    s.add_argument("--max-tokens", type=int, default=None, help="multimodal: text tokens at most")
    s.add_argument("--temperature", type=float, default=None, help="multimodal text: 0 = greedy")
    s.add_argument("--top-k", type=int, default=None, help="multimodal text: top-k sampling")
    s.add_argument("--top-p", type=float, default=None, help="multimodal text: nucleus sampling")
    s.add_argument(
        "--out",
        default=None,
        help="time series: .npy or .csv; DiT: .npz or .png; multimodal: .png/.npz (--prompt), "
        ".md (a story with images), .txt (text)",
    )
    s.set_defaults(fn=_sample)

    e = sub.add_parser("evaluate", help="score a run (any family), or real vs synthetic files")
    e.add_argument("run", nargs="?", help="a run folder (samples are generated)")
    e.add_argument("--real", help="real data: .npy/.npz windows, or a series (.csv, ...)")
    e.add_argument("--synthetic", help="synthetic windows: .npy/.npz, or a `tfusion sample` .csv")
    e.add_argument(
        "--window", type=_at_least_one, default=None, help="window length for a --real series"
    )
    e.add_argument("--n", type=int, default=1000, help="RUN mode: samples to generate")
    e.add_argument("--sampler", choices=list(SAMPLERS), default=None)
    e.add_argument("--steps", type=int, default=None)
    e.add_argument("--seed", type=_seed, default=0)
    e.add_argument("--out", default=None, help="report folder (default RUN/evaluation)")
    e.add_argument(
        "--repeats", type=int, default=None, help="runs of each stochastic score (K; default 5)"
    )
    e.add_argument(
        "--long-repeats",
        type=int,
        default=None,
        help="runs of the LDS and LPS variants alone (default --repeats; the slowest scores)",
    )
    e.add_argument(
        "--metrics",
        default=None,
        help="comma list of context_fid, correlational, discriminative, predictive, lds-fast, "
        "lps-fast, lds, lps (TransFusion's published probes: slow at long windows), prdc, "
        "memorisation (default: all but lds, lps), or 'none' for distances only",
    )
    e.add_argument("--device", default="auto", help=DEVICE_HELP)
    e.add_argument(
        "--workers",
        type=_at_least_one,
        default=None,
        help="processes that score concurrently (default: one per CPU core; 1 on a GPU)",
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
        c.add_argument("--seed", type=_seed, default=0)
        c.add_argument("--device", default="auto", help=DEVICE_HELP)
        if verb == "forecast":
            c.add_argument("--horizon", type=int, required=True, help="steps to forecast")
        c.set_defaults(fn=_conditional)

    d = sub.add_parser("demo", help="train on built-in data, sample, write a report")
    d.add_argument(
        "kind",
        nargs="?",
        choices=list(FAMILY_NAMES),
        default=DEFAULT_FAMILY,
        help="timeseries (GOOG prices, default), dit (MNIST digits) or multimodal (shapes)",
    )
    d.add_argument(
        "--out",
        default=None,
        help="default demo_report (dit: demo_dit_report, multimodal: demo_multimodal_report)",
    )
    d.add_argument(
        "--steps", type=_at_least_one, default=None, help="training steps (default: the demo's)"
    )
    d.add_argument("--preset", default=None, help="default small (dit: the demo's DiT preset)")
    d.set_defaults(fn=_demo)

    i = sub.add_parser(
        "info", help="list families, presets, samplers and data; with RUN: what that run is"
    )
    i.add_argument("run", nargs="?", help="a run folder: family, preset, data, steps, defaults")
    i.set_defaults(fn=_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a verb; user errors print one line and exit with code 2."""
    args = build_parser().parse_args(argv)
    out = getattr(args, "out", None)
    fresh = out is not None and not Path(out).exists()  # a folder this call may create
    # SIGTERM (a scheduler's stop, `kill`) unwinds like Ctrl-C: temporary files are removed
    # and nothing is left half-written (the default handler ended the process on the spot)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        args.fn(args)
    except TfusionError as e:
        _drop_if_empty(out, fresh)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        _drop_if_empty(out, fresh)
        stopped = isinstance(e, _Terminated)
        print("terminated" if stopped else "interrupted", file=sys.stderr)
        return 143 if stopped else 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process stands so that cleanup runs."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated()


def _drop_if_empty(out: str | None, fresh: bool) -> None:
    """A failed call leaves no trace: the --out folder it made and wrote nothing to goes."""
    if fresh and out is not None and Path(out).is_dir() and not any(Path(out).iterdir()):
        Path(out).rmdir()


if __name__ == "__main__":
    sys.exit(main())
