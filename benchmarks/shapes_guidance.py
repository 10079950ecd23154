"""Why Transfusion's prompt adherence falls from guidance 3 to 5 on shapes (issue 25, item 9):
for the shapes_text benchmark's Transfusion run, the shape each prompt asked for against the
shape read back, the pixels of each asked colour, and the share of pixels at saturated values,
at guidance 1, 3 and 5 beside the real held-out images. Prints a table and writes JSON
(benchmarks/results/shapes_text/guidance_errors.json).

    .venv/bin/python benchmarks/shapes_guidance.py [RUN]
"""

from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch

from tfusion.data.shapes import COLOURS, read_back
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
            distance = ((x.transpose(1, 2, 0) - np.array(COLOURS[colour])) ** 2).sum(-1)
            area[shape].append(int((distance < 0.25).sum()))
    return {
        "errors": dict(sorted(errors.items())),
        "pixels_per_shape": {k: round(float(np.mean(v)), 1) for k, v in sorted(area.items())},
        "saturated_share": round(float(np.mean(saturated)), 3),
    }


def main() -> None:
    torch.set_num_threads(1)
    run = (
        sys.argv[1]
        if len(sys.argv) > 1
        else str(ROOT / "benchmarks" / "out" / "shapes_text" / "transfusion_B900")
    )
    gen = load_multimodal(run)
    _, test = captioned_images(saved_multimodal_config(run))
    captions, real = test.captions[:100], test.images[:100]
    out = {"run": run, "real": stats(real, captions)}
    for g in (1.0, 3.0, 5.0):
        out[f"guidance {g:g}"] = stats(gen.text_to_image(captions, g, "dpm++", 25, 0), captions)
    for name, s in out.items():
        if name != "run":
            print(f"{name}: {s}")
    path = ROOT / "benchmarks" / "results" / "shapes_text" / "guidance_errors.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
