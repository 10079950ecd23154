"""Which image sampler draws the single shapes right (issue 25, items 9-10): for a trained
shapes_text Transfusion run, the share of one-shape prompts ("a red square on the left", jittered
by up to a pixel) drawn with colour, shape and position right, per sampler / steps / eta and
guidance. One-shape prompts are where every Transfusion arm loses its adherence.

    .venv/bin/python benchmarks/shapes_samplers.py RUN --name NAME [--prompts 150]

Prints one line per setting and writes benchmarks/results/shapes_text/samplers_NAME.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from tfusion.data.shapes import adherence
from tfusion.io import atomic_write_text
from tfusion.multimodal.decode import load_multimodal
from tfusion.multimodal.train import captioned_images, saved_multimodal_config

OUT = Path(__file__).parents[1] / "benchmarks" / "results" / "shapes_text"
SETTINGS = (
    ("dpm++", 25, 0.0),
    ("dpm++", 50, 0.0),
    ("ddim", 100, 0.0),
    ("dpm++", 25, 1.0),
    ("dpm++", 50, 1.0),
    ("dpm++", 15, 1.0),
    ("dpm++", 25, 0.5),
    ("ddim", 50, 1.0),
    ("ddpm", 250, 1.0),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--name", required=True)
    ap.add_argument("--prompts", type=int, default=150, help="one-shape held-out prompts")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.5, 3.0])
    args = ap.parse_args()
    torch.set_num_threads(1)
    _, test = captioned_images(saved_multimodal_config(args.run))
    single = [c for c in test.captions[:400] if " on the " in c][: args.prompts]
    gen = load_multimodal(args.run)
    rows = []
    for sampler, steps, eta in SETTINGS:
        for g in args.scales:
            t = time.perf_counter()
            images = gen.text_to_image(single, g, sampler, steps, seed=0, eta=eta)
            row = {"sampler": sampler, "steps": steps, "eta": eta, "guidance": g}
            row |= {"all": adherence(images, single)["all"], "seconds": time.perf_counter() - t}
            rows.append(row)
            print(f"{sampler} {steps} eta {eta:g} guidance {g:g}: {row['all']:.3f}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"run": str(args.run), "one_shape_prompts": len(single), "rows": rows}
    atomic_write_text(OUT / f"samplers_{args.name}.json", json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
