"""Time-series quality benchmark: the Diffusion-TS protocol, tfusion beside the published numbers.

Run one (data set, length, recipe) per call; each call writes its own JSON, so a long series of
calls that is cut off keeps every finished result:

    .venv/bin/python benchmarks/quality_timeseries.py --data stocks --length 24 --steps 6000
    .venv/bin/python benchmarks/quality_timeseries.py --data etth --length 64 --tag x0 \\
        --set diffusion.prediction=x0
    .venv/bin/python benchmarks/quality_timeseries.py --table   # every saved result as a table

Protocol (../shared/data/README.md): min-max over the whole series (to [-1, 1] inside the model),
stride-1 windows, all windows used for training; as many synthetic windows as real ones at
length 24 and `--n-gen` (default 3000) at longer lengths; every stochastic score repeated
`--repeats` (5) times, mean +- 95% CI; Context-FID's TS2Vec encoder trained 600 iterations as
TS2Vec does on data sets of this size; TransFusion's LDS and LPS beside them (skip with
`--no-long-scores`). TransFusion's setting (`--protocol transfusion`): the series reversed in
time, a seeded random 80/20 split of the windows, scores against the held-out windows. The
synthetic windows are kept as `synthetic.npy` in the run folder (with `samples.json`, how they
were drawn): `--reuse` scores a trained run again, and draws again only when the sampler
settings differ, so a call cut off while scoring resumes there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from tfusion.config import DiffusionConfig, TrainConfig, apply_overrides, to_dict
from tfusion.metrics.suite import SuiteConfig, score_suite
from tfusion.precision import cpu_model
from tfusion.timeseries.config import DataConfig, ModelConfig, RunConfig, SampleConfig
from tfusion.timeseries.data import prepare
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import train_timeseries

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "quality"

# data.* settings per data set (paths are resolved against ../shared/data)
DATASETS: dict[str, dict[str, Any]] = {
    "sines": {"source": "sine", "sine_samples": 10000, "sine_features": 5},  # see NATIVE_UNITS
    "stocks": {"source": "stock_data.csv"},
    "etth": {"source": "ETTh1.csv"},
    "fmri": {"source": "fMRI/sim4.mat"},
    "air": {"source": "AirQualityUCI.csv", "missing_values": (-200.0,)},
}

# Data sets scored in their own units, not min-max rescaled: TimeGAN's sines are already in [0, 1]
# (values (sin + 1) / 2, in practice 0.5 .. 1.0) and Diffusion-TS scores them as generated;
# rescaling 0.5 .. 1.0 to 0 .. 1 would double every MAE (predictive 0.094 -> 0.190 on real data).
NATIVE_UNITS = {"sines"}

# Diffusion-TS (ICLR 2024) Table 1 (L = 24) and Table 2 (ETTh long); TimeGAN beside it at 24
PUBLISHED: dict[tuple[str, int], dict[str, dict[str, float]]] = {
    ("sines", 24): {
        "Diffusion-TS": {
            "context_fid": 0.006,
            "correlational": 0.015,
            "discriminative": 0.006,
            "predictive": 0.093,
        },
        "TimeGAN": {
            "context_fid": 0.101,
            "correlational": 0.045,
            "discriminative": 0.011,
            "predictive": 0.093,
        },
    },
    ("stocks", 24): {
        "Diffusion-TS": {
            "context_fid": 0.147,
            "correlational": 0.004,
            "discriminative": 0.067,
            "predictive": 0.036,
        },
        "TimeGAN": {
            "context_fid": 0.103,
            "correlational": 0.063,
            "discriminative": 0.102,
            "predictive": 0.038,
        },
    },
    ("etth", 24): {
        "Diffusion-TS": {
            "context_fid": 0.116,
            "correlational": 0.049,
            "discriminative": 0.061,
            "predictive": 0.119,
        },
        "TimeGAN": {
            "context_fid": 0.300,
            "correlational": 0.210,
            "discriminative": 0.114,
            "predictive": 0.124,
        },
    },
    ("fmri", 24): {
        "Diffusion-TS": {
            "context_fid": 0.105,
            "correlational": 1.411,
            "discriminative": 0.167,
            "predictive": 0.099,
        },
        "TimeGAN": {
            "context_fid": 1.292,
            "correlational": 23.502,
            "discriminative": 0.484,
            "predictive": 0.126,
        },
    },
    ("etth", 64): {
        "Diffusion-TS": {
            "context_fid": 0.631,
            "correlational": 0.082,
            "discriminative": 0.106,
            "predictive": 0.116,
        }
    },
    ("etth", 128): {
        "Diffusion-TS": {
            "context_fid": 0.787,
            "correlational": 0.088,
            "discriminative": 0.144,
            "predictive": 0.110,
        }
    },
    ("etth", 256): {
        "Diffusion-TS": {
            "context_fid": 0.423,
            "correlational": 0.064,
            "discriminative": 0.060,
            "predictive": 0.109,
        }
    },
}

# TransFusion's scores in tfusion's fast variants by default; "lds" / "lps" are the published
# probes (hours per run at L = 384 on a CPU): pass them in --metrics to reproduce the paper
SCORES = (
    "context_fid",
    "correlational",
    "discriminative",
    "predictive",
    "lds-fast",
    "lps-fast",
    "lds",
    "lps",
)


def run_config(args: argparse.Namespace) -> RunConfig:
    """The recipe for one data set: protocol data settings, then `--set` overrides."""
    data = dict(DATASETS[args.data])
    if data["source"] != "sine":
        data["source"] = str(DATA / data["source"])
    transfusion = args.protocol == "transfusion"
    data.update(
        window=args.length,
        stride=1,
        split="random" if transfusion else "none",
        reverse=transfusion,
        seed=2021,
    )
    cfg = RunConfig(
        data=DataConfig(**data),
        model=ModelConfig(preset=args.preset),
        diffusion=DiffusionConfig(),
        train=TrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            warmup=200,
            checkpoint_every=max(500, args.steps // 4),
            bf16=args.bf16,
            progress=False,
            log_every=250,
        ),
        sample=SampleConfig(
            sampler=args.sampler,
            steps=args.sample_steps,
            eta=args.eta,
            batch_size=500,
            spacing=args.spacing,
        ),
    )
    overrides = [*recipe_overrides(args.recipe), *budget_overrides(args.budget), *args.set]
    return apply_overrides(cfg, overrides) if overrides else cfg


def recipe_overrides(path: str | None) -> list[str]:
    """A config file's optimisation recipe (its `train` and `diffusion` sections, not its data,
    model or sampler) as overrides: e.g. the published TransFusion recipe of
    configs/transfusion-paper.yaml on this benchmark's data protocol. Its epochs are dropped:
    a run here is sized by --steps or --budget."""
    if not path:
        return []
    raw = yaml.safe_load(Path(path).read_text()) or {}
    out = []
    for section in ("train", "diffusion"):
        for key, value in (raw.get(section) or {}).items():
            if (section, key) != ("train", "epochs"):
                out.append(f"{section}.{key}={json.dumps(value)}")
    return out


def budget_overrides(seconds: float | None) -> list[str]:
    """A compute budget: train.max_seconds on the process's CPU clock (train.clock=process), so
    runs side by side on a shared machine are charged only for the compute each got."""
    if seconds is None:
        return []
    return [f"train.max_seconds={seconds}", "train.clock=process"]


def reused_samples(run: Path, draw: dict[str, Any]) -> tuple[np.ndarray, float] | None:
    """The windows an earlier call drew from this run with the same settings (`draw`), and the
    seconds that took; None when there are none, or they were drawn differently."""
    try:
        kept = json.loads((run / "samples.json").read_text())
        synthetic = np.load(run / "synthetic.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if {k: kept.get(k) for k in draw} != draw or len(synthetic) != draw["n"]:
        return None
    return synthetic, float(kept["seconds"])


def evaluate_recipe(args: argparse.Namespace) -> dict[str, Any]:
    cfg = run_config(args)
    name = f"{args.data}_L{args.length}_{args.protocol}_{args.tag}"
    run = Path(args.runs) / name
    t0 = time.perf_counter()
    if args.floor_only:
        return score_floor(args, cfg, name)
    record = run / "fit_record.json"
    if args.reuse and record.exists():  # score a finished run again: keep its training figures
        fit = json.loads(record.read_text())
        print(f"reusing the trained run {run} ({fit['seconds']:.0f} s of training)")
    else:
        if run.exists():  # an earlier attempt (cut off, killed, out of memory): train afresh
            print(f"removing the earlier run {run} (no --reuse): training it again")
            shutil.rmtree(run)
        done = train_timeseries(cfg, run)
        fit = {
            "seconds": done.seconds,
            "windows_per_second": done.windows_per_second,
            "final_loss": done.final_loss,
        }
        record.write_text(json.dumps(fit, indent=2))
    if args.train_only:
        print(f"trained {run}; score it later with --reuse")
        return fit
    data = prepare(cfg.data)
    real = data.test.to_array() if args.protocol == "transfusion" else data.train.to_array()
    native = args.data in NATIVE_UNITS
    if native:
        real = data.inverse(real)
    n_gen = len(real) if args.length <= 24 else min(args.n_gen, max(len(real), 1))
    suite = make_suite(args, native)
    draw = {  # what the synthetic windows depend on beyond the trained weights
        "sampling": f"{args.sampler} {args.sample_steps} {args.spacing} eta {args.eta}",
        "n": int(n_gen),
        "seed": args.seed,
        "scaled": not native,
        "bf16": bool(args.bf16),
    }
    kept = reused_samples(run, draw) if args.reuse else None
    if kept is not None:  # a job cut off while scoring: the same draw, not drawn again
        synthetic, sample_seconds = kept
        print(f"reusing the {len(synthetic)} windows drawn before ({sample_seconds:.0f} s)")
    else:
        model = TimeSeriesRun.load(run)
        t1 = time.perf_counter()
        synthetic = model.generate(  # the sampler asked for now, not the one saved with the run
            n_gen,
            sampler=args.sampler,
            steps=args.sample_steps,
            eta=args.eta,
            spacing=args.spacing,
            seed=args.seed,
            scaled=not native,
            bf16=args.bf16,
        )
        sample_seconds = time.perf_counter() - t1
        np.save(run / "synthetic.npy", synthetic)  # kept beside the run for rescoring
        (run / "scores_partial.json").unlink(missing_ok=True)  # scores of the old draw
        (run / "samples.json").write_text(json.dumps({**draw, "seconds": sample_seconds}))
    train = data.train.to_array() if args.protocol == "transfusion" else None
    if train is not None:  # TransFusion scores against held-out windows: check for copies too
        suite = replace(suite, metrics=(*suite.metrics, "memorisation"))
    t2 = time.perf_counter()
    scores = scores_kept(run / "scores_partial.json", real, synthetic, suite, train)
    out = RESULTS / f"{name}{'_' + args.score_tag if args.score_tag else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(reference: dict[str, Any] | None, pending: bool) -> dict[str, Any]:
        result = {
            "data": args.data,
            "length": args.length,
            "protocol": args.protocol,
            "tag": args.tag,
            "score_tag": args.score_tag,
            "sampling": f"{args.sampler} {args.sample_steps} {args.spacing} eta {args.eta}",
            "overrides": args.set,
            "recipe": args.recipe,
            "budget_cpu_seconds": args.budget,
            "training": training_record(run),
            "config": to_dict(cfg),
            "score_units": "native" if native else "min-max of the real windows",
            "real_windows": len(real),
            "synthetic_windows": int(n_gen),
            "train_seconds": fit["seconds"],
            "train_windows_per_s": fit["windows_per_second"],
            "final_loss": fit["final_loss"],
            "sample_seconds": sample_seconds,
            "score_seconds": time.perf_counter() - t2,
            "score_seconds_each": scores.get("seconds"),  # per metric, summed over repeats
            "total_seconds": time.perf_counter() - t0,
            "repeats": args.repeats,
            "long_repeats": args.long_repeats or args.repeats,
            "scores": {k: v for k, v in scores.items() if k in SCORES},
            "memorisation": scores.get("memorisation"),
            "real_reference": (
                None if reference is None else {k: v for k, v in reference.items() if k in SCORES}
            ),
            "published": (  # Diffusion-TS's numbers hold for its own protocol only
                PUBLISHED.get((args.data, args.length), {})
                if args.protocol == "diffusion-ts"
                else {}
            ),
            "machine": {
                "cpus": torch.get_num_threads(),
                "torch": torch.__version__,
                "platform": platform.platform(),
                "cpu": cpu_model(),
            },
            "date": time.strftime("%Y-%m-%d"),
        }
        if pending:  # the floor is still to come: a call cut off before it keeps the model's scores
            result["real_reference_pending"] = True
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2, default=str))
        tmp.replace(out)
        print(f"wrote {out}")
        return result

    floor = train is not None and not args.no_real_reference
    result = save(None, pending=floor)
    if floor:
        # the same scores for real training windows in place of synthetic ones: the floor a
        # perfect generator reaches under this protocol (its stride-1 windows overlap the test set)
        result = save(real_floor(args, suite, real, train, n_gen), pending=False)
    return result


def scores_kept(
    cache: Path,
    real: np.ndarray,
    synthetic: np.ndarray,
    suite: SuiteConfig,
    train: np.ndarray | None,
) -> dict[str, Any]:
    """score_suite, one metric at a time, each metric's result kept in `cache` as it finishes:
    a scoring cut off (a session's end: LDS and LPS take an hour each at L = 384 on one core)
    resumes at the metric it was on. Every probe seeds itself from (suite.seed, repeat), so a
    metric scored alone equals the same metric scored with the others. Entries are keyed by the
    suite's settings and both sets' digests; any change scores afresh."""
    digest = hashlib.sha256()
    for x in (real, synthetic, train):
        digest.update(b"-" if x is None else np.ascontiguousarray(x).tobytes())
    key = hashlib.sha256((repr(suite) + digest.hexdigest()).encode()).hexdigest()
    kept = json.loads(cache.read_text()) if cache.exists() else {}
    kept = kept if kept.get("key") == key else {"key": key, "metrics": {}}
    out: dict[str, Any] = {"seconds": {}, "wall_seconds": 0.0}
    for name in suite.metrics:
        if name not in kept["metrics"]:
            one = replace(suite, metrics=(name,))
            part = score_suite(
                real, synthetic, one, train=train if name == "memorisation" else None
            )
            kept["metrics"][name] = part
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(kept, default=float))
            tmp.replace(cache)
        part = kept["metrics"][name]
        out.update(
            {k: v for k, v in part.items() if k not in ("seconds", "wall_seconds", "workers")}
        )
        out["seconds"].update(part.get("seconds", {}))
        out["wall_seconds"] += part.get("wall_seconds", 0.0)
    return out


def training_record(run: Path) -> dict[str, Any] | None:
    """RUN/training.json: steps done, what stopped the run, wall and CPU seconds."""
    path = run / "training.json"
    return json.loads(path.read_text()) if path.exists() else None


def make_suite(args: argparse.Namespace, native: bool) -> SuiteConfig:
    """The scores and budgets of one benchmark call."""
    metrics = ("context_fid", "correlational", "discriminative", "predictive")
    if args.protocol == "transfusion" or not args.no_long_scores:
        metrics += ("lds-fast", "lps-fast")
    if args.metrics:  # a subset, e.g. to compare samplers on one run at L = 384 in less time
        metrics = tuple(m for m in SCORES if m in args.metrics)  # overrides --no-long-scores
    suite = SuiteConfig(
        metrics=metrics,
        workers=args.workers,
        repeats=args.repeats,
        long_repeats=args.long_repeats,
        seed=args.seed,
        fid_iterations=600,
        normalise=not native,
    )
    if args.quick_scores:
        suite = replace(suite.scaled(0.1), fid_iterations=60)
    return suite


def real_floor(
    args: argparse.Namespace, suite: SuiteConfig, real: np.ndarray, train: np.ndarray, n: int
) -> dict[str, Any]:
    """Correlational, LDS and LPS of n real training windows in place of synthetic ones."""
    pick = np.random.default_rng(args.seed).choice(len(train), min(n, len(train)), False)
    long = tuple(m for m in suite.metrics if m.startswith(("lds", "lps")))
    ref_suite = replace(suite, metrics=("correlational", *long))
    return score_suite(real, train[np.sort(pick)], ref_suite)


def score_floor(args: argparse.Namespace, cfg: RunConfig, name: str) -> dict[str, Any]:
    """TransFusion protocol only: the real-window floor alone (it needs no trained model, so it
    can run beside the training), written to NAME_floor.json."""
    if args.protocol != "transfusion":
        raise SystemExit("--floor-only needs --protocol transfusion (held-out windows)")
    t0 = time.perf_counter()
    data = prepare(cfg.data)
    real, train = data.test.to_array(), data.train.to_array()
    n = min(args.n_gen, max(len(real), 1)) if args.length > 24 else len(real)
    ref = real_floor(args, make_suite(args, native=False), real, train, n)
    result = {
        "data": args.data,
        "length": args.length,
        "protocol": args.protocol,
        "tag": args.tag,
        "overrides": args.set,
        "real_windows": len(real),
        "train_windows": len(train),
        "reference_windows": min(n, len(train)),
        "long_repeats": args.long_repeats or args.repeats,
        "real_reference": {k: v for k, v in ref.items() if k in SCORES},
        "score_seconds": time.perf_counter() - t0,
        "machine": {"cpus": torch.get_num_threads(), "cpu": cpu_model()},
        "date": time.strftime("%Y-%m-%d"),
    }
    out = RESULTS / f"{name}_floor.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {out}")
    return result


def table(results: list[dict[str, Any]]) -> str:
    """One markdown row per result: our mean +- CI, then the published Diffusion-TS value."""
    head = "| data | L | recipe | train s | " + " | ".join(SCORES) + " |"
    lines = [head, "|" + "---|" * (4 + len(SCORES))]
    for r in sorted(results, key=lambda r: (r["data"], r["length"], r["tag"])):
        cells = []
        for k in SCORES:
            s = r["scores"].get(k)
            if not s:
                cells.append("")
                continue
            ours = f"{s['mean']:.3f}±{s['ci95']:.3f}"
            ref = r["published"].get("Diffusion-TS", {}).get(k)
            cells.append(ours + (f" ({ref:.3f})" if ref is not None else ""))
        recipe = f"{r['protocol']}/{r['tag']}"
        lines.append(
            f"| {r['data']} | {r['length']} | {recipe} | {r['train_seconds']:.0f} | "
            + " | ".join(cells)
            + " |"
        )
        ref = r.get("real_reference")
        if ref:  # the real-training-window floor under the same protocol
            cells = [
                f"{ref[k]['mean']:.3f}±{ref[k]['ci95']:.3f}" if k in ref else "" for k in SCORES
            ]
            lines.append(
                f"| {r['data']} | {r['length']} | real train windows | - | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", choices=sorted(DATASETS))
    ap.add_argument("--length", type=int, default=24)
    ap.add_argument("--protocol", choices=("diffusion-ts", "transfusion"), default="diffusion-ts")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--sampler", default="dpm++")
    ap.add_argument("--sample-steps", type=int, default=50)
    ap.add_argument("--spacing", default="karras", help="step grid (see Schedule.timesteps)")
    ap.add_argument(
        "--eta",
        type=float,
        default=SampleConfig().eta,
        help="sampler noise (dpm++: 0 = ODE, 1 = SDE; default: sample.eta of the run config)",
    )
    ap.add_argument(
        "--score-tag",
        default="",
        help="suffix of the JSON name: score one trained run (--reuse) with several samplers",
    )
    ap.add_argument("--n-gen", type=int, default=3000, help="synthetic windows at L > 24")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--long-repeats",
        type=int,
        default=None,
        help="repeats of LDS and LPS only (default --repeats; they dominate scoring at L = 384)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="score an already trained run folder again instead of training it (and the windows "
        "it drew before, if drawn the same way)",
    )
    ap.add_argument("--train-only", action="store_true", help="train the run folder and stop")
    ap.add_argument(
        "--no-long-scores",
        action="store_true",
        help="skip LDS and LPS (TransFusion's scores; ~17 min per repeat each at L = 384)",
    )
    ap.add_argument(
        "--no-real-reference",
        action="store_true",
        help="TransFusion protocol: skip scoring real training windows as if synthetic",
    )
    ap.add_argument(
        "--floor-only",
        action="store_true",
        help="TransFusion protocol: score only real training windows (no model needed)",
    )
    ap.add_argument(
        "--metrics",
        nargs="*",
        default=None,
        choices=SCORES,
        help="score only these (e.g. lds lps context_fid); the JSON holds just them",
    )
    ap.add_argument("--quick-scores", action="store_true", help="10%% score budgets (smoke run)")
    ap.add_argument(
        "--recipe",
        default=None,
        help="take train + diffusion from this config file (e.g. configs/transfusion-paper.yaml)",
    )
    ap.add_argument(
        "--budget",
        type=float,
        default=None,
        help="training budget in CPU seconds of this process (train.max_seconds, clock=process)",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    ap.add_argument(
        "--workers", type=int, default=None, help="score worker processes (default: one per core)"
    )
    ap.add_argument("--set", nargs="*", default=[], help="config overrides a.b=value")
    ap.add_argument("--tag", default="default")
    ap.add_argument("--runs", default="benchmarks/out/runs")
    ap.add_argument("--table", action="store_true", help="print the table of saved results")
    args = ap.parse_args()
    if args.table:
        results = [
            json.loads(p.read_text())
            for p in sorted(RESULTS.glob("*.json"))
            if not p.stem.endswith("_floor")
        ]
        print(table(results))
        return
    if not args.data:
        ap.error("--data is required (or --table)")
    if args.threads:
        torch.set_num_threads(args.threads)
    result = evaluate_recipe(args)
    if not args.train_only and not args.floor_only:
        print(table([result]))


if __name__ == "__main__":
    main()
