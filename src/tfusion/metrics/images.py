"""Image scores without downloaded weights: a classifier trained on the data set itself.

One small CNN is trained on the real training images. Its pooled features (the layer before the
class logits) stand in for Inception's in the Fréchet distance, and its predictions measure
whether generated images belong to the class they were asked for (class accuracy). Because the
extractor is trained here on this data set, the FID is comparable between models scored with the
same extractor (same data, same seed), not with published Inception-FID numbers.

The classifier trains and scores on `train_scorer(device=...)` (default the CPU); its random
draws (initial weights, batch order, shifts) stay on the CPU generator.

Dimension letters: N images, C channels, H x W pixels, F features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfusion.devices import device_of, load_device, to_device
from tfusion.errors import DataError
from tfusion.metrics.fid import frechet_distance, gaussian_stats
from tfusion.metrics.probes import seeded


class ImageClassifier(nn.Module):
    """Three 3 x 3 conv stages (32, 64, 128 channels, the last two with stride 2), global average
    pooling to F = 128 features, then a linear layer to the class logits."""

    def __init__(self, channels: int, classes: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1),
            nn.GroupNorm(8, w),
            nn.GELU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
            nn.GroupNorm(8, 2 * w),
            nn.GELU(),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1),
            nn.GroupNorm(8, 4 * w),
            nn.GELU(),
        )
        self.head = nn.Linear(4 * w, classes)

    def features(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, F)."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@dataclass
class ImageScorer:
    """A trained feature extractor / classifier and its accuracy on held-out real images.

    It scores where its model is (`device`); results come back as NumPy arrays.
    """

    model: ImageClassifier
    test_accuracy: float
    epochs: int

    @property
    def device(self) -> torch.device:
        return device_of(self.model)

    @torch.no_grad()
    def features(self, images: np.ndarray, batch: int = 500) -> np.ndarray:
        x, dev = _tensor(images), self.device
        self.model.eval()
        out = [
            self.model.features(to_device(x[i : i + batch], dev)) for i in range(0, len(x), batch)
        ]
        return torch.cat(out).cpu().numpy()

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch: int = 500) -> np.ndarray:
        x, dev = _tensor(images), self.device
        self.model.eval()
        out = [
            self.model(to_device(x[i : i + batch], dev)).argmax(1) for i in range(0, len(x), batch)
        ]
        return torch.cat(out).cpu().numpy()

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        """Share of images the classifier assigns to `labels` (class accuracy)."""
        return float((self.predict(images) == np.asarray(labels)).mean())

    def fid(self, real: np.ndarray, fake: np.ndarray) -> float:
        """Fréchet distance between the Gaussians of real and fake features."""
        return frechet_distance(
            *gaussian_stats(self.features(real)), *gaussian_stats(self.features(fake))
        )


def _tensor(images: np.ndarray) -> Tensor:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4:
        raise DataError(f"images must be (N, C, H, W), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise DataError("images hold NaN or infinite values")
    return torch.from_numpy(x)


def train_scorer(
    images: np.ndarray,
    labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    classes: int,
    epochs: int = 8,
    batch: int = 128,
    seed: int = 0,
    min_steps: int = 1500,
    *,
    device: str | torch.device | None = None,
) -> ImageScorer:
    """Train the classifier on real images (Adam 2e-3, cosine decay, light random shifts) for
    `epochs` passes, more on small sets so that it takes at least `min_steps` steps, on `device`
    (default the CPU), where the returned scorer then scores."""
    dev = load_device(device)
    x, y = _tensor(images), torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(x) < 2:
        raise DataError(f"need at least 2 real images to train the image scorer, got {len(x)}")
    with seeded(seed, dev):
        model = ImageClassifier(x.shape[1], classes).to(dev)
        epochs = max(epochs, -(-min_steps // -(-len(x) // batch)))
        steps = epochs * -(-len(x) // batch)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x))
            for i in range(0, len(x), batch):
                idx = order[i : i + batch]
                xb = to_device(_shift(x[idx]), dev)  # shifts drawn on the CPU
                loss = F.cross_entropy(model(xb), to_device(y[idx], dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    scorer = ImageScorer(model.eval(), float("nan"), epochs)
    if len(test_images):
        scorer.test_accuracy = scorer.accuracy(test_images, test_labels)
    return scorer


def _shift(x: Tensor, max_shift: int = 1) -> Tensor:
    """Random translation by up to `max_shift` pixels (edge padding), one shift per batch."""
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,)))
    if dx == dy == 0:
        return x
    p = max_shift
    padded = F.pad(x, (p, p, p, p), mode="replicate")
    h, w = x.shape[2:]
    return padded[:, :, p + dy : p + dy + h, p + dx : p + dx + w]


def shapes_scorer(
    train: np.ndarray,
    test: np.ndarray,
    seed: int = 0,
    min_steps: int = 1500,
    device: str | torch.device | None = None,
):
    """The FID scorer of the shapes set: a CNN trained on the training images' colour x shape
    of their first shape read back (12 classes), checked on the held-out images; DiT's and
    Transfusion's text-to-image reports share it, so their FIDs compare."""
    from tfusion.data.shapes import COLOURS, SHAPES, first_item_label

    labels = np.array([first_item_label(im) for im in train])
    test_labels = np.array([first_item_label(im) for im in test])
    return train_scorer(
        train,
        labels,
        test,
        test_labels,
        len(COLOURS) * len(SHAPES),
        seed=seed,
        min_steps=min_steps,
        device=device,
    )
