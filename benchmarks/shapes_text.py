"""Text-to-image on the shapes set (issue 25, items 4-6 and 10): DiT with a text encoder against
Transfusion, at about the same parameter count and the same training compute, and Transfusion's
recipe switches (clean images fed back, the captioning noise cap) against its default.

    .venv/bin/python benchmarks/shapes_text.py --budget 1200          # every arm, 2 lanes
    .venv/bin/python benchmarks/shapes_text.py --arm dit-text --budget 1200   # one arm, here
    .venv/bin/python benchmarks/shapes_text.py --table

Every arm trains on 20 000 generated 16 x 16 shapes with one thread until it has used `--budget`
CPU seconds (train.max_seconds on the process clock: arms side by side, or a machine shared
with other work, are each charged only for the compute they got), then is scored on the same
100 held-out captions: prompt adherence (colour, shape, position, all three; read back from
the pixels) at guidance 1, 3 and 5 with DPM-Solver++ 25 steps, both as the ODE (eta 0) and the
SDE (eta 1); FID against the held-out images (a CNN scorer trained on the training images);
Transfusion's captioning too. JSON per arm: benchmarks/results/shapes_text/ARM_B{budget}.json.

Arms:
    transfusion        the demo's model and recipe (4 x 192, v-prediction, bf16)
    transfusion-clean  the same with data.clean_images=0.2 and data.caption_max_t=0.5
    transfusion-causal the same with causal attention inside images (the paper's ablation)
    transfusion-before the same with the time embedding added before the linear patch map
    transfusion+S+...  the demo's model with switches S (see SWITCHES: bpe, text, before, ...)
    dit-text           DiT (patch 4, adaLN-Zero) conditioned on captions through a 2-block
                       text encoder, width chosen so the parameters match Transfusion's
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from tfusion.io import atomic_write_text

ROOT = Path(__file__).parents[1]
OUT = ROOT / "benchmarks" / "results" / "shapes_text"
RUNS = ROOT / "benchmarks" / "out" / "shapes_text"
ARMS = ("transfusion", "transfusion-clean", "transfusion-causal", "transfusion-before", "dit-text")
SCALES = (1.0, 3.0, 5.0)


# Transfusion switches an arm may combine: "transfusion+before+sincos" is the demo's model and
# recipe with the time embedding before the patch map and the 2-D patch positions
SWITCHES: dict[str, tuple[str, dict[str, Any]]] = {
    "clean": ("data", {"clean_images": 0.2, "caption_max_t": 0.5}),
    "clean0": ("data", {"clean_images": 0.2}),  # item 5 alone: a fifth of the images fed clean
    "capt": ("data", {"caption_max_t": 0.5}),  # item 6 alone: captioning noise capped at half
    "causal": ("model", {"image_attention": "causal"}),
    "before": ("model", {"time_embedding": "before"}),
    "sincos": ("model", {"patch_positions": "sincos"}),
    "after": ("model", {"time_embedding": "after"}),
    "rope": ("model", {"patch_positions": "rope"}),
    "unet": ("model", {"encoder": "unet"}),  # the paper's U-Net down / up blocks around the patches
    "t2i": ("data", {"image_first": 0.25}),  # a quarter of the pairs image-first (default half)
    "bpe": ("model", {"tokenizer": "bpe"}),  # BPE learned from the captions: ~7 tokens, not ~32
    # a quarter of the sequences are windows of real English text: Python's own documentation
    # (pydoc_data, 466 kB, shipped with Python; written to benchmarks/out/pydoc_topics.txt)
    "text": ("data", {"text_ratio": 0.25}),
}


def pydoc_text() -> Path:
    """Python's topic documentation (pydoc_data.topics) as one UTF-8 file: real English text
    that every Python installation carries, for data.text."""
    import pydoc_data.topics

    path = RUNS.parent / "pydoc_topics.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "\n\n".join(pydoc_data.topics.topics.values()))
    return path


ALIASES = {f"transfusion-{k}": f"transfusion+{k}" for k in ("clean", "causal", "before")}


def arm_type(name: str) -> str:
    """argparse type: a known arm, or transfusion+SWITCH[+SWITCH...]."""
    base, *switches = ALIASES.get(name, name).split("+")
    if name in ARMS or (base == "transfusion" and switches and set(switches) <= set(SWITCHES)):
        return name
    raise argparse.ArgumentTypeError(
        f"unknown arm {name!r}: {', '.join(ARMS)}, or transfusion+S[+S...] with S in "
        f"{', '.join(SWITCHES)}"
    )


def transfusion_config(arm: str, budget: float, seed: int = 0) -> Any:
    from dataclasses import replace

    from tfusion.multimodal.demo import multimodal_demo_config

    cfg = multimodal_demo_config(steps=1_000_000)  # the budget stops it; the cosine follows
    train = replace(
        cfg.train,
        max_seconds=budget,
        clock="process",
        progress=False,
        checkpoint_every=10**6,
        seed=cfg.train.seed + seed,
    )
    # the arms were measured with the byte tokenizer, which the demo used until session 32
    sections = {"data": cfg.data, "model": replace(cfg.model, tokenizer="bytes")}
    for switch in ALIASES.get(arm, arm).split("+")[1:]:
        where, changes = SWITCHES[switch]
        if switch == "text":
            changes = {**changes, "text": str(pydoc_text())}
        sections[where] = replace(sections[where], **changes)
    return replace(cfg, train=train, **sections)


def dit_config(budget: float, width: int) -> Any:
    from tfusion.config import apply_overrides
    from tfusion.dit.config import DiTRunConfig

    return apply_overrides(
        DiTRunConfig(),
        [
            "data.source=shapes",
            "data.samples=20000",
            "data.image_size=16",
            "data.test_fraction=0.1",
            "model.condition=text",
            "model.preset=DiT-Mini/2",
            "model.heads=4",
            f"model.width={width}",
            "model.depth=4",
            "model.patch=4",
            "model.text_width=128",
            "model.text_depth=2",
            "model.text_heads=4",
            "diffusion.schedule=cosine",
            "diffusion.prediction=v",
            "train.steps=1000000",
            "train.batch_size=32",
            "train.lr=0.001",
            "train.warmup=300",
            "train.min_lr_ratio=0.05",
            "train.weight_decay=0.1",
            "train.betas=[0.9, 0.95]",
            "train.ema_decay=0.999",
            "train.bf16=true",
            f"train.max_seconds={budget}",
            "train.clock=process",
            "train.progress=false",
            "train.checkpoint_every=1000000",
            "sample.sampler=dpm++",
            "sample.steps=25",
        ],
    )


def parameters(arm: str, width: int = 128, run: Path | None = None) -> int:
    """Parameters of an arm's model; a Transfusion arm with `run` counts that run's model (a
    BPE run's vocabulary is what its tokenizer learned, up to model.vocab)."""
    from tfusion.dit.model import DiT, count_parameters

    if arm == "dit-text":
        from tfusion.dit.train import dit_shape

        cfg = dit_config(1.0, width)
        return count_parameters(DiT(dit_shape(cfg.model, 16, 3, 0)))
    from tfusion.multimodal.model import MultimodalTransformer
    from tfusion.multimodal.train import model_shape

    cfg = transfusion_config(arm, 1.0)
    vocab = None
    if run is not None:
        from tfusion.multimodal.tokenizer import run_tokenizer

        vocab = run_tokenizer(run, cfg.model.tokenizer).vocab_size
    return count_parameters(MultimodalTransformer(model_shape(cfg, 3, 16, vocab)))


def matched_width() -> int:
    """The DiT width (a multiple of 16) whose parameter count is nearest Transfusion's."""
    target = parameters("transfusion")
    return min(range(64, 257, 16), key=lambda w: abs(parameters("dit-text", w) - target))


def stem(arm: str, budget: float, seed: int = 0, prompts: int = 100) -> str:
    """A result's file stem: ARM_B{budget}, with _s{seed} and _p{prompts} where not 0 / 100."""
    return (
        f"{arm}_B{budget:g}"
        + (f"_s{seed}" if seed else "")
        + (f"_p{prompts}" if prompts != 100 else "")
    )


def run_arm(
    arm: str,
    budget: float,
    prompts: int = 100,
    etas: tuple[float, ...] = (0.0, 1.0),
    seed: int = 0,
    reuse: bool = False,
) -> dict[str, Any]:
    """Train an arm (or, with `reuse`, take its trained run folder as it is: e.g. one resumed
    with `tfusion train --resume`) and score it."""
    torch.set_num_threads(1)
    run = RUNS / stem(arm, budget, seed, prompts)
    reused = reuse and (run / "training.json").exists()
    if run.exists() and not reused:
        import shutil

        shutil.rmtree(run)
    RUNS.mkdir(parents=True, exist_ok=True)
    width = matched_width()
    t0 = time.perf_counter()
    from tfusion.dit.evaluate import evaluate_dit_text
    from tfusion.multimodal.evaluate import evaluate_multimodal

    if reused:
        fit = None
    elif arm == "dit-text":
        from tfusion.dit.train import train_dit

        fit = train_dit(dit_config(budget, width), run)
    else:
        from tfusion.multimodal.train import train_multimodal

        fit = train_multimodal(transfusion_config(arm, budget, seed), run)
    train_record = json.loads((run / "training.json").read_text())
    t1 = time.perf_counter()
    by_eta = {}
    for eta in etas:
        out = run / f"evaluation_eta{eta:g}"
        if arm == "dit-text":
            r = evaluate_dit_text(
                run, out, n=prompts, scales=SCALES, sampler="dpm++", steps=25, eta=eta
            )
        else:
            r = evaluate_multimodal(
                run, out, n=prompts, scales=SCALES, sampler="dpm++", steps=25, eta=eta
            )
        by_eta[f"eta {eta:g}"] = {
            "prompt_adherence": r["prompt_adherence"],
            "fid": r["fid"],
            "captioning": r.get("captioning"),
            "perplexity": r.get("perplexity"),
        }
    text_perplexity = None
    if arm != "dit-text":  # every Transfusion arm reads the held-out documentation, per byte
        from tfusion.multimodal.decode import load_multimodal
        from tfusion.multimodal.train import text_split

        held = text_split(str(pydoc_text()))[1]
        text_perplexity = load_multimodal(run).text_perplexity(held, 128)
    result = {
        "arm": arm,
        "seed": seed,
        "prompts": prompts,
        "budget_cpu_seconds": budget,
        "parameters": parameters(arm, width, None if arm == "dit-text" else run),
        "transfusion_parameters": parameters("transfusion"),
        "dit_width": width if arm == "dit-text" else None,
        "training": train_record,
        "train_wall_seconds": train_record["seconds"] if fit is None else fit.seconds,
        "reused_run": reused,
        "evaluate_wall_seconds": time.perf_counter() - t1,
        "total_wall_seconds": time.perf_counter() - t0,
        "scores": by_eta,
        "pydoc_perplexity_per_byte": text_perplexity,
        "cpu": _cpu(),
        "date": time.strftime("%Y-%m-%d"),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{stem(arm, budget, seed, prompts)}.json"
    atomic_write_text(path, json.dumps(result, indent=2, default=str))
    print(f"wrote {path}")
    return result


def _cpu() -> str:
    from tfusion.precision import cpu_model

    return cpu_model()


def table(budget: float) -> str:
    lines = [
        "| arm | parameters | steps | eta | all three at guidance 1 / 3 / 5 | colour / shape / "
        "position at 3 | FID at 5 (real floor) | captioning all three |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(OUT.glob(f"*_B{budget:g}*.json")):
        r = json.loads(path.read_text())
        arm = path.stem.split(f"_B{budget:g}")[0] + path.stem.split(f"_B{budget:g}")[1]
        for eta, s in r["scores"].items():
            rows = {row["guidance"]: row for row in s["prompt_adherence"]}
            alls = " / ".join(f"{rows[g]['all']:.2f}" for g in SCALES if g in rows)
            g3 = rows.get(3.0, {})
            attrs = " / ".join(
                f"{g3.get(k, float('nan')):.2f}" for k in ("colour", "shape", "position")
            )
            fid = s["fid"]
            cap = s.get("captioning") or {}
            lines.append(
                f"| {arm} | {r['parameters'] / 1e6:.2f} M | {r['training']['steps_done']} | "
                f"{eta} | {alls} | {attrs} | {fid['samples_at_last_scale']:.2f} "
                f"({fid['train_vs_held_out']:.2f}) | {cap.get('all', float('nan')):.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--arm", type=arm_type, default=None, help="run one arm in this process")
    ap.add_argument("--arms", nargs="+", type=arm_type, default=list(ARMS))
    ap.add_argument("--seed", type=int, default=0, help="added to train.seed (0: as before)")
    ap.add_argument("--budget", type=float, default=1200, help="CPU seconds of training per arm")
    ap.add_argument("--lanes", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=100, help="held-out captions scored")
    ap.add_argument("--etas", type=float, nargs="+", default=[0.0, 1.0], help="sampler noise")
    ap.add_argument("--table", action="store_true")
    ap.add_argument(
        "--reuse", action="store_true", help="with --arm: score its trained run folder as it is"
    )
    args = ap.parse_args()
    if args.table:
        print(table(args.budget))
        return
    if args.arm:
        run_arm(args.arm, args.budget, args.prompts, tuple(args.etas), args.seed, args.reuse)
        print(table(args.budget))
        return
    done = {
        a
        for a in args.arms
        if (OUT / f"{stem(a, args.budget, args.seed, args.prompts)}.json").exists()
    }
    todo = [a for a in args.arms if a not in done]
    running: list[tuple[str, subprocess.Popen]] = []
    RUNS.mkdir(parents=True, exist_ok=True)
    while todo or running:
        while todo and len(running) < args.lanes:
            arm = todo.pop(0)
            log = open(RUNS / f"{stem(arm, args.budget, args.seed, args.prompts)}.log", "w")  # noqa: SIM115
            cmd = [sys.executable, __file__, "--arm", arm, "--budget", str(args.budget)]
            cmd += ["--seed", str(args.seed)]
            cmd += ["--prompts", str(args.prompts), "--etas", *map(str, args.etas)]
            running.append((arm, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)))
            print(f"start {arm}", flush=True)
        time.sleep(5)
        for item in list(running):
            if item[1].poll() is not None:
                running.remove(item)
                print(f"{'done' if item[1].returncode == 0 else 'FAILED'} {item[0]}", flush=True)
    print(table(args.budget))


if __name__ == "__main__":
    main()
