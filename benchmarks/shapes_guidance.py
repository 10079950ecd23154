"""Why Transfusion's prompt adherence falls from guidance 3 to 5 on shapes (issue 25, item 9):
for the shapes_text benchmark's Transfusion run, the shape each prompt asked for against the
shape read back, the pixels of each asked colour, and the share of pixels at saturated values,
at guidance 1, 3 and 5 beside the real held-out images. Prints a table and writes JSON
(benchmarks/results/shapes_text/guidance_errors.json).

    .venv/bin/python benchmarks/shapes_guidance.py [RUN]
    .venv/bin/python benchmarks/shapes_guidance.py RUN --prompts 400 --scales 1 1.5 2 3 5 --name X

With --name the JSON is guidance_errors_X.json and holds, per guidance scale, adherence (colour,
shape, position, all three) split by caption kind (one shape on a side / two shapes in a
relation) and the shape errors, an error counted as "took the other's shape" when a pair's item
was drawn with the shape the caption gave its partner (attribute binding).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

import numpy as np
import torch

from tfusion.data.shapes import COLOURS, adherence, read_back
from tfusion.io import atomic_write_text
from tfusion.multimodal.decode import load_multimodal
from tfusion.multimodal.train import captioned_images, saved_multimodal_config

ROOT = Path(__file__).parents[1]


def asked(caption: str) -> dict[str, str]:
    """colour -> shape named by a shapes caption."""
    one = re.fullmatch(r"a (\w+) (\w+) on the (\w+)", caption)
    if one:
        return {one.group(1): one.group(2)}
    two = re.fullmatch(r"a (\w+) (\w+) (.+?) a (\w+) (\w+)", caption)
    assert two is not None, caption
    return {two.group(1): two.group(2), two.group(4): two.group(5)}


def stats(images: np.ndarray, captions: list[str]) -> dict:
    errors: collections.Counter = collections.Counter()
    binding = 0
    area: dict[str, list[int]] = collections.defaultdict(list)
    saturated = []
    for image, caption in zip(images, captions, strict=True):
        found = {item.colour: item for item in read_back(image)}
        x = (np.clip(image, -1, 1) + 1) / 2
        saturated.append(float((np.abs(image) > 0.98).mean()))
        for colour, shape in asked(caption).items():
            got = found.get(colour)
            read = got.shape if got is not None else "missing"
            if read != shape:
                errors[f"{shape} read as {read}"] += 1
                others = [v for k, v in asked(caption).items() if k != colour]
                binding += bool(others) and read == others[0] != shape
            distance = ((x.transpose(1, 2, 0) - np.array(COLOURS[colour])) ** 2).sum(-1)
            area[shape].append(int((distance < 0.25).sum()))
    kinds = {
        "one shape": [i for i, c in enumerate(captions) if len(asked(c)) == 1],
        "two shapes": [i for i, c in enumerate(captions) if len(asked(c)) == 2],
    }
    return {
        "adherence": adherence(images, captions),
        "adherence_by_kind": {
            k: {"n": len(v), **adherence(images[v], [captions[i] for i in v])}
            for k, v in kinds.items()
            if v
        },
        "errors": dict(sorted(errors.items())),
        "took_the_other_shape": binding,
        "pixels_per_shape": {k: round(float(np.mean(v)), 1) for k, v in sorted(area.items())},
        "saturated_share": round(float(np.mean(saturated)), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "run",
        nargs="?",
        default=str(ROOT / "benchmarks" / "out" / "shapes_text" / "transfusion_B900"),
    )
    ap.add_argument("--prompts", type=int, default=100, help="held-out captions (the first N)")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0, 5.0])
    ap.add_argument("--eta", type=float, default=0.0, help="sampler noise (0: the ODE)")
    ap.add_argument("--name", default=None, help="write guidance_errors_NAME.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = args.run
    gen = load_multimodal(run)
    _, test = captioned_images(saved_multimodal_config(run))
    captions, real = test.captions[: args.prompts], test.images[: args.prompts]
    out = {"run": run, "prompts": len(captions), "eta": args.eta, "real": stats(real, captions)}
    for g in args.scales:
        images = gen.text_to_image(captions, g, "dpm++", 25, 0, eta=args.eta)
        out[f"guidance {g:g}"] = stats(images, captions)
    for name, s in out.items():
        if isinstance(s, dict):
            print(f"{name}: {s}")
    stem = "guidance_errors" + (f"_{args.name}" if args.name else "")
    path = ROOT / "benchmarks" / "results" / "shapes_text" / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
