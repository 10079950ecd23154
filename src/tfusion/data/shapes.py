"""The built-in "shapes" set: 1-2 coloured shapes at named positions, with exact captions, and a
deterministic checker that reads colour, shape and position back from pixels.

One shape: "a red circle on the left". Two shapes: "a red circle above a blue square" (or left
of / right of / below). Images are size x size RGB in [-1, 1] on a black background; sizes 16-32.
The checker quantises each pixel to the nearest palette colour, takes each colour's pixels as
one shape, classifies it (square, circle, triangle) by which corners of its bounding box it
fills, and places it by its centroid, so a generated image can be scored against the caption it
was asked for without any learned model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tfusion.errors import DataError

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
}
SHAPES = ("circle", "square", "triangle")
SIDES = ("left", "right", "top", "bottom")
RELATIONS = {"left of": (0, -1), "right of": (0, 1), "above": (-1, 0), "below": (1, 0)}


@dataclass(frozen=True)
class Item:
    colour: str
    shape: str
    centre: tuple[float, float]  # (row, column) in pixels


def _draw(canvas: np.ndarray, item: Item, radius: float) -> None:
    size = canvas.shape[1]
    rr, cc = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    r0, c0 = item.centre
    if item.shape == "circle":
        inside = (rr - r0) ** 2 + (cc - c0) ** 2 <= radius**2
    elif item.shape == "square":
        inside = (np.abs(rr - r0) <= radius * 0.85) & (np.abs(cc - c0) <= radius * 0.85)
    else:  # an upward triangle in the box of side 2 radius
        top, bottom = r0 - radius, r0 + radius
        half = (rr - top) / (2 * radius) * radius
        inside = (rr >= top) & (rr <= bottom) & (np.abs(cc - c0) <= half)
    for k, v in enumerate(COLOURS[item.colour]):
        canvas[k][inside] = v


def _side(item: Item, size: int) -> str:
    """The named side of an image of `size` pixels that the item's centre lies toward."""
    mid = size / 2
    dr, dc = item.centre[0] - mid, item.centre[1] - mid
    if abs(dc) >= abs(dr):
        return "left" if dc < 0 else "right"
    return "top" if dr < 0 else "bottom"


def make_shapes(
    n: int, size: int = 16, seed: int = 0
) -> tuple[np.ndarray, list[str], list[list[Item]]]:
    """n images (n, 3, size, size) in [-1, 1], their captions and their items."""
    if not 16 <= size <= 32:
        raise DataError(f"shapes images are 16 to 32 pixels, got {size}")
    rng = np.random.default_rng(seed)
    radius = size / 5.5
    images = np.zeros((n, 3, size, size), dtype=np.float32)
    captions, all_items = [], []
    for i in range(n):
        colours = rng.choice(list(COLOURS), size=2, replace=False)
        kinds = rng.choice(SHAPES, size=2)
        if rng.random() < 0.5:  # one shape on a named side
            side = SIDES[rng.integers(4)]
            q = size / 4.0
            centre = {
                "left": (size / 2, q),
                "right": (size / 2, size - q),
                "top": (q, size / 2),
                "bottom": (size - q, size / 2),
            }[side]
            jitter = rng.uniform(-size / 16, size / 16, 2)
            items = [
                Item(str(colours[0]), str(kinds[0]), (centre[0] + jitter[0], centre[1] + jitter[1]))
            ]
            caption = f"a {items[0].colour} {items[0].shape} on the {side}"
        else:  # two shapes in a relation
            rel = list(RELATIONS)[rng.integers(4)]
            dr, dc = RELATIONS[rel]
            mid = size / 2
            off = size / 4.0
            # "a above b": a sits toward the side the relation names, b opposite
            a_centre = (mid + dr * off, mid + dc * off)
            b_centre = (mid - dr * off, mid - dc * off)
            items = [
                Item(str(colours[0]), str(kinds[0]), a_centre),
                Item(str(colours[1]), str(kinds[1]), b_centre),
            ]
            caption = (
                f"a {items[0].colour} {items[0].shape} {rel} a {items[1].colour} {items[1].shape}"
            )
        canvas = np.zeros((3, size, size), dtype=np.float32)
        for item in items:
            _draw(canvas, item, radius)
        images[i] = canvas * 2.0 - 1.0
        captions.append(caption)
        all_items.append(items)
    return images, captions, all_items


def read_back(image: np.ndarray, min_pixels: int = 6) -> list[Item]:
    """The shapes in an image (3, H, W) in [-1, 1]: one Item per palette colour present."""
    x = (np.clip(image, -1, 1) + 1) / 2  # (3, H, W) in [0, 1]
    palette = np.array([(0.0, 0.0, 0.0), *COLOURS.values()])  # black background first
    d = ((x.transpose(1, 2, 0)[:, :, None, :] - palette[None, None]) ** 2).sum(-1)
    label = d.argmin(-1)  # (H, W): 0 background, 1.. colours
    items = []
    for k, name in enumerate(COLOURS, start=1):
        rows, cols = np.nonzero(label == k)
        if len(rows) < min_pixels:
            continue
        mask = label == k
        top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
        # the corners of the bounding box: a square fills all four, an upward triangle the
        # two bottom ones only, a circle none
        n_top = int(mask[top, left]) + int(mask[top, right])
        n_bottom = int(mask[bottom, left]) + int(mask[bottom, right])
        if n_top == 2 and n_bottom == 2:
            shape = "square"
        elif n_bottom == 2 and n_top == 0:
            shape = "triangle"
        else:
            shape = "circle"
        items.append(Item(name, shape, (rows.mean() + 0.5, cols.mean() + 0.5)))
    return items


def check_caption(image: np.ndarray, caption: str) -> dict[str, bool]:
    """Does the image show what the caption says? colour, shape and position, each true/false.
    A caption that is not of the data set's two forms (a model can write anything) is wrong on
    all three."""
    found = {i.colour: i for i in read_back(image)}
    size = image.shape[1]
    one = re.fullmatch(r"a (\w+) (\w+) on the (\w+)", caption.strip())
    two = re.fullmatch(r"a (\w+) (\w+) (.+?) a (\w+) (\w+)", caption.strip())
    if one:  # "a red circle on the left"
        colour, shape, side = one.groups()
        item = found.get(colour)
        return {
            "colour": item is not None and len(found) == 1,
            "shape": item is not None and item.shape == shape,
            "position": item is not None and _side(item, size) == side,
        }
    if not two or two.group(3) not in RELATIONS:
        return {"colour": False, "shape": False, "position": False}
    # "a red circle above a blue square"
    c1, s1, rel, c2, s2 = two.groups()
    a, b = found.get(c1), found.get(c2)
    ok_pos = False
    if a is not None and b is not None:
        dr, dc = RELATIONS[rel]
        vr, vc = a.centre[0] - b.centre[0], a.centre[1] - b.centre[1]
        ok_pos = (dr * vr + dc * vc) > 0 and (abs(vr) >= abs(vc)) == (dr != 0)
    return {
        "colour": a is not None and b is not None and len(found) == 2,
        "shape": a is not None and b is not None and a.shape == s1 and b.shape == s2,
        "position": ok_pos,
    }


def first_item_label(image: np.ndarray) -> int:
    """colour x shape of the first shape read back (0 when none): the 12 classes an image
    scorer for FID on this set is trained on."""
    items = read_back(image)
    if not items:
        return 0
    a = items[0]
    return list(COLOURS).index(a.colour) * len(SHAPES) + SHAPES.index(a.shape)


def adherence(images: np.ndarray, captions: list[str]) -> dict[str, float]:
    """Share of images that show their caption's colour, shape, position, and all three."""
    checks = [check_caption(im, c) for im, c in zip(images, captions, strict=True)]
    row = {k: float(np.mean([c[k] for c in checks])) for k in ("colour", "shape", "position")}
    row["all"] = float(np.mean([all(c.values()) for c in checks]))
    return row
