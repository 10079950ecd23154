"""The paper's model, scored (issue 24, item 3): TransFusion's network with the published recipe
and with tfusion's, beside tfusion's `small` and `base`, each trained within the same compute
budget and scored under TransFusion's protocol beside the real-data floor.

    .venv/bin/python benchmarks/paper_model.py --data stocks air --length 100 --budget 1200
    .venv/bin/python benchmarks/paper_model.py --table

Arms (every one on TransFusion's data protocol: min-max, reversed in time, stride-1 windows, the
80/20 split seeded 2021; scores against the held-out windows):

    paper-published  transfusion-paper, the published recipe (configs/transfusion-paper.yaml's
                     train + diffusion: Adam 0.9/0.99, lr 1e-4 constant, batch 256, no clipping,
                     no EMA, fp32; at L > 128 the batch of 256 runs as 8 micro-batches of
                     32, train.accumulate=8: the same step in 1/8 of the memory)
    paper-tfusion    transfusion-paper, tfusion's recipe (batch 64, lr 1e-3, 200 warm-up steps,
                     cosine decay over the budget, clipping at 1, EMA 0.999, bf16 where native)
    small, base      tfusion's modern blocks, tfusion's recipe

Each arm trains on one thread until it has used `--budget` CPU seconds (train.max_seconds on
the process clock, so two lanes side by side, or a machine shared with other work, charge each
run only for the compute it got), then draws min(--n-gen, held-out) windows with the same
sampler (DPM-Solver++ 50, Karras steps, tfusion's default noise: the published 1000-step DDPM
draws ~10 s per window for this network on this CPU, hours per arm) and scores them with the
default suite (Context-FID, correlational, discriminative, predictive, lds-fast, lps-fast),
`--repeats` times each. The real-data floor (real training windows in place of synthetic ones)
is scored once per data set. Jobs run in `--lanes` processes at a time; each writes its own JSON
(benchmarks/results/quality/D_L{L}_transfusion_pm{budget}-ARM.json), so a cut-off series keeps
what finished, and finished jobs are skipped when the command is run again. A job cut off after
its training (or its drawing) finished resumes there: the run folder under benchmarks/out/runs
keeps the trained weights and the drawn windows (`--reuse`); one cut off while training trains
again from the start.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "quality"
PAPER_CONFIG = {
    "stocks": "configs/transfusion-paper.yaml",
    "air": "configs/transfusion-paper-air.yaml",
    "sines": "configs/transfusion-paper-sines.yaml",
}
ARMS = ("paper-published", "paper-tfusion", "small", "base")
SCORES = ("context_fid", "correlational", "discriminative", "predictive", "lds-fast", "lps-fast")


def accumulate_for(length: int) -> int:
    """Micro-batches of the published recipe's batch of 256: one at L <= 128; 8 (micro-batches
    of 32) beyond, where the whole batch's activations outgrow this machine (~47 GB in fp32
    at L = 384). The step is the same either way (train.accumulate)."""
    return 1 if length <= 128 else 8


def arm_args(arm: str, data: str, length: int) -> list[str]:
    """The quality_timeseries.py arguments of one arm."""
    if arm == "paper-published":
        # the published recipe: its own optimiser, batch, fp32; sampled like every other arm
        recipe = ["--preset", "transfusion-paper", "--recipe", PAPER_CONFIG[data]]
        return [*recipe, "--set", f"train.accumulate={accumulate_for(length)}"]
    preset = "transfusion-paper" if arm == "paper-tfusion" else arm
    return ["--preset", preset, "--bf16"]  # tfusion's recipe: the benchmark's defaults, bf16


def tag(arm: str, budget: float) -> str:
    return f"pm{budget:g}-{arm}"


def result_path(data: str, length: int, name: str) -> Path:
    return RESULTS / f"{data}_L{length}_transfusion_{name}.json"


def jobs(args: argparse.Namespace) -> list[tuple[Path, list[str]]]:
    """(the JSON it writes, the command) per job: the floor, then the arms, per data set."""
    base = [
        sys.executable,
        str(ROOT / "benchmarks" / "quality_timeseries.py"),
        "--protocol",
        "transfusion",
        "--length",
        str(args.length),
        "--threads",
        "1",
        "--workers",
        "1",
        "--repeats",
        str(args.repeats),
        "--n-gen",
        str(args.n_gen),
    ]
    out = []
    for data in args.data:
        floor_tag = f"pm{args.budget:g}"
        floor = result_path(data, args.length, f"{floor_tag}_floor")
        out.append((floor, [*base, "--data", data, "--tag", floor_tag, "--floor-only"]))
        for arm in args.arms:
            cmd = [
                *base,
                "--data",
                data,
                "--tag",
                tag(arm, args.budget),
                "--steps",
                "1000000",  # the budget stops every arm; the cosine decay follows the budget
                "--budget",
                str(args.budget),
                "--no-real-reference",  # the floor is its own job
                "--reuse",  # a job cut off after training (or drawing) resumes from there
                *arm_args(arm, data, args.length),
            ]
            out.append((result_path(data, args.length, tag(arm, args.budget)), cmd))
    return out


def run_all(args: argparse.Namespace) -> None:
    todo = [(path, cmd) for path, cmd in jobs(args) if not path.exists()]
    logs = ROOT / "benchmarks" / "out" / "paper_model"
    logs.mkdir(parents=True, exist_ok=True)
    running: list[tuple[Path, subprocess.Popen, float]] = []
    while todo or running:
        while todo and len(running) < args.lanes:
            path, cmd = todo.pop(0)
            log = open(logs / f"{path.stem}.log", "w")  # noqa: SIM115 (closed with the process)
            print(f"start {path.stem}", flush=True)
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            running.append((path, proc, time.perf_counter()))
        time.sleep(5)
        for item in list(running):
            path, proc, t0 = item
            if proc.poll() is not None:
                running.remove(item)
                state = "done" if proc.returncode == 0 else f"FAILED ({proc.returncode})"
                print(f"{state} {path.stem} in {time.perf_counter() - t0:.0f} s", flush=True)


def fmt(score: dict | None) -> str:
    if not score:
        return "-"
    mean, ci = score["mean"], score.get("ci95")
    digits = 4 if abs(mean) < 0.1 else 3
    if ci is None or ci != ci:  # one value: no interval
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def table(length: int, budget: float, data_sets: list[str]) -> str:
    head = "| data | arm | steps | windows/s | train CPU s | " + " | ".join(SCORES) + " |"
    lines = [head, "|" + "---|" * (5 + len(SCORES))]
    for data in data_sets:
        for arm in ARMS:
            path = result_path(data, length, tag(arm, budget))
            if not path.exists():
                continue
            r = json.loads(path.read_text())
            t = r.get("training") or {}
            cells = [fmt(r["scores"].get(s)) for s in SCORES]
            lines.append(
                f"| {data} | {arm} | {t.get('steps_done', '-')} | "
                f"{r['train_windows_per_s']:.1f} | {t.get('cpu_seconds', 0):.0f} | "
                + " | ".join(cells)
                + " |"
            )
        floor = result_path(data, length, f"pm{budget:g}_floor")
        if floor.exists():
            ref = json.loads(floor.read_text())["real_reference"]
            cells = [fmt(ref.get(s)) for s in SCORES]
            lines.append(f"| {data} | real training windows | | | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["stocks", "air"], choices=sorted(PAPER_CONFIG))
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--budget", type=float, default=1200, help="CPU seconds of training per arm")
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-gen", type=int, default=1000)
    ap.add_argument("--lanes", type=int, default=2, help="jobs at a time (one thread each)")
    ap.add_argument("--table", action="store_true", help="print the table of saved results")
    return ap


def main() -> None:
    args = build_parser().parse_args()
    if not args.table:
        run_all(args)
    print(table(args.length, args.budget, args.data))


if __name__ == "__main__":
    main()
