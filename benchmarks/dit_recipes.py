"""DiT's published recipe against tfusion's on one task (issue 25, item 2).

    .venv/bin/python benchmarks/dit_recipes.py --budget 600          # both arms, one after another
    .venv/bin/python benchmarks/dit_recipes.py --table

Both arms train the same network (`--preset`, default DiT-XS/7: 4 blocks of 128, patch 7) on the
same 4500 bundled MNIST digits at 28 x 28, on one thread until each has used `--budget` CPU
seconds (train.max_seconds on the process clock); only the recipe differs:

    paper    configs/dit-paper.yaml: AdamW 1e-4 constant, betas (0.9, 0.999), no weight decay,
             no clipping, batch 256, EMA 0.9999 from the first step, horizontal flips, learned
             variance with the hybrid loss, linear schedule, eps-prediction, fp32; sampled with
             DDPM 250 steps and the learned variance
    tfusion  configs/dit-mnist.yaml: AdamW 1e-3 with warm-up and cosine decay over the budget,
             batch 64, clipping, EMA 0.999 with warm-up, cosine schedule, v-prediction, bf16
             where native; sampled with DPM-Solver++ 20 steps

Each run is scored by `evaluate_dit` (class-balanced samples, FID and class accuracy from a CNN
trained on the training digits, real-data floor) at guidance 1.5 (the published FID setting)
and 4.0 (the published picture setting), with its own recipe's sampler, and the paper arm also
with DPM-Solver++ 20 so the sampler is not the only difference. JSON per arm:
benchmarks/results/dit_recipes/ARM_B{budget}.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from tfusion.io import atomic_write_text

ROOT = Path(__file__).parents[1]
OUT = ROOT / "benchmarks" / "results" / "dit_recipes"
RUNS = ROOT / "benchmarks" / "out" / "dit_recipes"
ARMS = ("paper", "tfusion")
CONFIGS = {"paper": "configs/dit-paper.yaml", "tfusion": "configs/dit-mnist.yaml"}
SCALES = (1.5, 4.0)


def arm_config(arm: str, budget: float, preset: str) -> Any:
    from tfusion.config import load_config
    from tfusion.dit.config import DiTRunConfig

    return load_config(
        ROOT / CONFIGS[arm],
        [
            f"model.preset={preset}",
            "data.source=mnist",
            "data.image_size=28",
            "train.epochs=null",
            "train.steps=1000000",  # the budget stops it (tfusion's cosine follows the budget)
            f"train.max_seconds={budget}",
            "train.clock=process",
            "train.progress=false",
            "train.checkpoint_every=1000000",
        ],
        DiTRunConfig,
    )


def evaluation_plan(arm: str, cfg: Any) -> list[tuple[str, int, bool]]:
    """(sampler, steps, EMA weights?) per evaluation: each recipe's own sampler; the paper arm
    also with DPM-Solver++ 20, and with its raw weights (EMA 0.9999 from the first step is
    still mostly the initial weights after a few thousand steps)."""
    plan = [(cfg.sample.sampler, cfg.sample.steps, True)]
    if arm == "paper":
        plan += [("dpm++", 20, True), (cfg.sample.sampler, cfg.sample.steps, False)]
    return plan


def evaluate(run: Path, sampler: str, steps: int, ema: bool, n: int) -> dict[str, Any]:
    from tfusion.dit.evaluate import evaluate_dit

    name = f"{sampler} {steps}" + ("" if ema else " raw weights")
    out = run / f"evaluation_{sampler}{steps}{'' if ema else '_raw'}"
    r = evaluate_dit(run, out, n=n, scales=SCALES, sampler=sampler, steps=steps, ema=ema)
    return {
        name: {"by_guidance": r["by_guidance"], "fid_train_vs_held_out": r["fid_train_vs_held_out"]}
    }


def complete(arm: str, budget: float, preset: str, n: int) -> None:
    """Add the evaluations a finished arm's JSON lacks (its run folder must still be there)."""
    path = OUT / f"{arm}_B{budget:g}.json"
    result = json.loads(path.read_text())
    run = RUNS / f"{arm}_B{budget:g}"
    for sampler, steps, ema in evaluation_plan(arm, arm_config(arm, budget, preset)):
        name = f"{sampler} {steps}" + ("" if ema else " raw weights")
        if name not in result["evaluations"]:
            result["evaluations"].update(evaluate(run, sampler, steps, ema, n))
    atomic_write_text(path, json.dumps(result, indent=2, default=str))


def run_arm(arm: str, budget: float, preset: str, n: int) -> dict[str, Any]:
    from tfusion.dit.train import train_dit

    torch.set_num_threads(1)
    run = RUNS / f"{arm}_B{budget:g}"
    if run.exists():
        import shutil

        shutil.rmtree(run)
    RUNS.mkdir(parents=True, exist_ok=True)
    cfg = arm_config(arm, budget, preset)
    t0 = time.perf_counter()
    fit = train_dit(cfg, run)
    record = json.loads((run / "training.json").read_text())
    evaluations = {}
    for sampler, steps, ema in evaluation_plan(arm, cfg):
        evaluations.update(evaluate(run, sampler, steps, ema, n))
    result = {
        "arm": arm,
        "config": CONFIGS[arm],
        "preset": preset,
        "budget_cpu_seconds": budget,
        "training": record,
        "train_wall_seconds": fit.seconds,
        "total_wall_seconds": time.perf_counter() - t0,
        "evaluations": evaluations,
        "date": time.strftime("%Y-%m-%d"),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{arm}_B{budget:g}.json"
    atomic_write_text(path, json.dumps(result, indent=2, default=str))
    print(f"wrote {path}", flush=True)
    return result


def table(budget: float) -> str:
    lines = [
        "| recipe | steps (batch) | sampler | FID at 1.5 | accuracy at 1.5 | FID at 4 "
        "| accuracy at 4 | real floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        path = OUT / f"{arm}_B{budget:g}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        batch = r["training"].get("global_batch", "?")
        for name, ev in r["evaluations"].items():
            rows = {row["guidance"]: row for row in ev["by_guidance"]}
            cells = []
            for g in SCALES:
                row = rows.get(g, {})
                cells += [f"{row.get('fid', float('nan')):.2f}"]
                cells += [f"{row.get('class_accuracy', float('nan')):.3f}"]
            lines.append(
                f"| {arm} | {r['training']['steps_done']} ({batch}) | {name} | "
                + " | ".join(cells)
                + f" | {ev['fid_train_vs_held_out']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    ap.add_argument("--budget", type=float, default=600, help="CPU seconds of training per arm")
    ap.add_argument("--preset", default="DiT-XS/7")
    ap.add_argument("--n", type=int, default=500, help="images per guidance scale")
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    if not args.table:
        for arm in args.arms:
            if not (OUT / f"{arm}_B{args.budget:g}.json").exists():
                run_arm(arm, args.budget, args.preset, args.n)
            else:
                complete(arm, args.budget, args.preset, args.n)
    print(table(args.budget))


if __name__ == "__main__":
    main()
