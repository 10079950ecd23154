"""Discriminative scores: how well a small classifier tells real windows from synthetic ones.

Both scores train a classifier on 80% of the real and 80% of the synthetic windows and report
|accuracy - 0.5| on the held-out 20% of both (0 = indistinguishable, 0.5 = fully separable):

- `lds`: TransFusion's long-sequence discriminative score, a one-layer transformer classifier;
- `timegan_discriminative`: TimeGAN's GRU classifier, the version in Diffusion-TS's tables.

The probe parts shared with `tfusion.metrics.predictive` (the one-layer encoder, the seeded
training loop, batched prediction, the canonical window order) live here too.

Every probe takes `device` (None: the CPU; "auto", "cpu", "cuda", "cuda:N", "mps" or a
torch.device). The model is built on the CPU and moved there, and every random draw (split,
batches, initial weights) stays on a CPU generator, so a seed draws the same windows on every
device and the CPU scores do not depend on it; dropout on an accelerator uses its own generator,
seeded from the same seed.

Dimension letters: B batch, L time steps, C features, D width, H heads, F feed-forward width.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfusion.devices import device_of, load_device, to_device
from tfusion.errors import DataError
from tfusion.metrics.distribution import check_pair
from tfusion.nn import SelfAttention, position_table
from tfusion.progress import progress as progress_bar
from tfusion.threads import single_thread

TRAIN_FRACTION = 0.8  # TimeGAN's train_test_divide, used by TransFusion and Diffusion-TS
MIN_WINDOWS = 5  # the fewest windows that leave at least one for testing after an 80/20 split


class EncoderLayer(nn.Module):
    """Linear(C -> D) + sinusoidal positions + one post-norm transformer encoder layer.

    As TransFusion's scoring code builds it (a projection, the Vaswani position table without
    dropout, one `nn.TransformerEncoderLayer`: post-norm, ReLU feed-forward, dropout after the
    attention and in and after the feed-forward), with two changes. The feed-forward width is
    explicit (the published code leaves PyTorch's default 2048, pass `feedforward=2048` to
    reproduce it). There is no dropout on the attention weights: it forces PyTorch's unfused
    attention on CPU, which materialises (B, H, L, L) and is about 10x slower at L = 384.
    """

    def __init__(
        self,
        features: int,
        length: int,
        width: int,
        heads: int,
        feedforward: int,
        dropout: float = 0.1,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.embed = nn.Linear(features, width)
        self.register_buffer("pos", position_table(length, width), persistent=False)  # (L, D)
        self.attn = SelfAttention(width, heads)
        self.drop1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(width)
        self.ff = nn.Sequential(
            nn.Linear(width, feedforward),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(feedforward, width),
        )
        self.drop2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L, C) -> (B, L, D)."""
        h = self.embed(x) + self.pos
        h = self.norm1(h + self.drop1(self.attn(h, is_causal=self.causal)))
        return self.norm2(h + self.drop2(self.ff(h)))


class TransformerClassifier(nn.Module):
    """TransFusion's LDS classifier: encoder layer, mean over time, Linear(D -> 1) logit."""

    def __init__(
        self, features: int, length: int, width: int, heads: int, feedforward: int, dropout: float
    ) -> None:
        super().__init__()
        self.encoder = EncoderLayer(features, length, width, heads, feedforward, dropout)
        self.head = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L, C) -> logits (B,)."""
        return self.head(self.encoder(x).mean(dim=1)).squeeze(-1)


class GRUClassifier(nn.Module):
    """TimeGAN's discriminator: one GRU layer, its final hidden state -> Linear -> logit."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L, C) -> logits (B,)."""
        _, last = self.gru(x)  # (1, B, hidden)
        return self.head(last[-1]).squeeze(-1)


@contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Seed torch's CPU generator inside the block and restore the caller's state after it; on
    an accelerator `device` (CUDA, MPS) its generator is seeded and restored as well."""
    if device is None or device.type == "cpu":
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield
        return
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        with torch.random.fork_rng(devices=[index], device_type="cuda"):
            torch.default_generator.manual_seed(seed)
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
            yield
        return
    with torch.random.fork_rng(devices=[device.index or 0], device_type=device.type):
        torch.manual_seed(seed)  # the CPU and every device of that type
        yield


def canonical(windows: np.ndarray) -> Tensor:
    """The windows as a float32 tensor (n, L, C) in a canonical order (sorted by their bytes).

    Splits and batches are drawn from this order, so a score depends on the set of windows and the
    seed, never on the order the caller stored them in.
    """
    flat = np.ascontiguousarray(windows, dtype=np.float32).reshape(len(windows), -1)
    order = sorted(range(len(flat)), key=lambda i: flat[i].tobytes())
    return torch.from_numpy(flat[order].reshape(windows.shape))


def bce_real_plus_synthetic(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean BCE of the real windows (label 1) plus mean BCE of the synthetic ones (label 0)."""
    # summed per side as TimeGAN and TransFusion do, so unequal sides weigh the same
    real = labels > 0.5
    return F.binary_cross_entropy_with_logits(
        logits[real], labels[real]
    ) + F.binary_cross_entropy_with_logits(logits[~real], labels[~real])


def bce_first_real(n_real: int) -> Callable[[Tensor, Tensor], Tensor]:
    """`bce_real_plus_synthetic` for batches whose first `n_real` windows are the real ones.

    The same numbers, without the boolean mask: selecting by a mask waits for the device (the
    selected count decides the output's shape), slicing does not.
    """

    def loss(logits: Tensor, labels: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            logits[:n_real], labels[:n_real]
        ) + F.binary_cross_entropy_with_logits(logits[n_real:], labels[n_real:])

    return loss


def fit(
    model: nn.Module,
    draw: Callable[[], tuple[Tensor, Tensor]],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    iterations: int,
    lr: float = 1e-3,
    progress: bool = False,
    desc: str = "",
) -> nn.Module:
    """Train `model` for `iterations` Adam steps on batches `draw()` -> (inputs, targets).

    The batches are moved to the model's device. Returns the model in eval mode. Adam's learning
    rate 1e-3 is TensorFlow's and PyTorch's default, which TimeGAN's and TransFusion's scoring
    code use.
    """
    device = device_of(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in progress_bar(range(iterations), enabled=progress, desc=desc, leave=False):
        inputs, targets = draw()
        inputs, targets = to_device(inputs, device), to_device(targets, device)
        opt.zero_grad(set_to_none=True)
        loss_fn(model(inputs), targets).backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, chunk: int = 256) -> Tensor:
    """model(x) in eval mode, `chunk` windows at a time (bounded memory at long L), on the CPU.

    `x` may stay on the CPU: each chunk is moved to the model's device.
    """
    model.eval()
    device = device_of(model)
    out = [model(to_device(x[i : i + chunk], device)) for i in range(0, len(x), chunk)]
    return torch.cat(out).cpu()


def _check_iterations(iterations: int, batch: int) -> None:
    if iterations < 1 or batch < 1:
        raise DataError(f"iterations and batch must be at least 1, got {iterations} and {batch}")


def _discriminative_score(
    real: np.ndarray,
    synthetic: np.ndarray,
    make_model: Callable[[int, int], nn.Module],
    iterations: int,
    batch: int,
    seed: int,
    lr: float,
    progress: bool,
    desc: str,
    device: str | torch.device | None,
) -> float:
    """Split 80/20, train make_model(L, C) on real (label 1) vs synthetic (0), |acc - 0.5|."""
    dev = load_device(device)
    check_pair(real, synthetic)
    _check_iterations(iterations, batch)
    if min(len(real), len(synthetic)) < MIN_WINDOWS:
        raise DataError(
            f"too few windows for an 80/20 split: {len(real)} real and {len(synthetic)} "
            f"synthetic, need at least {MIN_WINDOWS} of each"
        )
    rng = np.random.default_rng(seed)
    parts = []
    for x in (canonical(real), canonical(synthetic)):
        idx = torch.from_numpy(rng.permutation(len(x)))
        cut = int(len(x) * TRAIN_FRACTION)
        parts += [x[idx[:cut]], x[idx[cut:]]]
    real_train, real_test, syn_train, syn_test = parts

    def draw() -> tuple[Tensor, Tensor]:
        # `batch` distinct windows from each side, as TimeGAN's batch_generator draws them
        r = real_train[torch.randperm(len(real_train))[:batch]]
        s = syn_train[torch.randperm(len(syn_train))[:batch]]
        labels = torch.cat([torch.ones(len(r)), torch.zeros(len(s))])
        return torch.cat([r, s]), labels

    loss = bce_first_real(min(batch, len(real_train)))  # draw() puts the real windows first
    with seeded(seed, dev):
        model = make_model(real.shape[1], real.shape[2]).to(dev)
        fit(model, draw, loss, iterations, lr, progress, desc)
    correct = (predict(model, real_test) > 0).sum() + (predict(model, syn_test) <= 0).sum()
    accuracy = correct.item() / (len(real_test) + len(syn_test))
    return abs(accuracy - 0.5)


def lds(
    real: np.ndarray,
    synthetic: np.ndarray,
    iterations: int = 2000,
    batch: int = 128,
    seed: int = 0,
    *,
    width: int = 8,
    heads: int = 8,
    feedforward: int = 32,
    dropout: float = 0.1,
    lr: float = 1e-3,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> float:
    """TransFusion's long-sequence discriminative score |accuracy - 0.5|; 0 is best, 0.5 worst.

    Inputs are (n, L, C) windows already min-max normalised to [0, 1] by the caller (the real
    data's per-feature range applied to both). Each side is split 80/20 with `seed`; the classifier
    Linear(C -> 8) + sinusoidal positions + one transformer encoder layer (width 8, 8 heads,
    feed-forward 32) + mean over time + Linear(8 -> 1) is trained `iterations` Adam steps on
    `batch` real + `batch` synthetic training windows with BCE (real-side mean plus synthetic-side
    mean), then scored in eval mode on both held-out parts together. Same windows (in any order)
    and seed -> same score.

    Differences from the published code: the feed-forward width is 32, not PyTorch's default 2048
    (pass `feedforward=2048` to match); no dropout on the attention weights (see `EncoderLayer`);
    the test accuracy is taken in eval mode (the published code leaves dropout on when it
    predicts). Cost: every step attends over 256 x 8 heads x L^2 pairs, about 1 s per step at
    L = 384 on one CPU core, so the default 2000 steps take about half an hour there; `device`
    (default the CPU) trains the classifier elsewhere, e.g. "cuda".
    """

    def make_model(length: int, features: int) -> nn.Module:
        return TransformerClassifier(features, length, width, heads, feedforward, dropout)

    return _discriminative_score(
        real, synthetic, make_model, iterations, batch, seed, lr, progress, "LDS classifier", device
    )


def timegan_discriminative(
    real: np.ndarray,
    synthetic: np.ndarray,
    iterations: int = 2000,
    batch: int = 128,
    seed: int = 0,
    *,
    lr: float = 1e-3,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> float:
    """TimeGAN's discriminative score |accuracy - 0.5| (Diffusion-TS's tables); 0 is best.

    Inputs are (n, L, C) windows already min-max normalised to [0, 1] by the caller. Same split,
    training and score as `lds`, with TimeGAN's classifier: one GRU layer of hidden size
    max(1, C // 2) whose final hidden state goes through Linear(hidden -> 1). Runs on one thread
    (see `single_thread`); about 0.12 s per step at L = 384. `device`: as in `lds`.
    """

    def make_model(length: int, features: int) -> nn.Module:
        return GRUClassifier(features, max(1, features // 2))

    with single_thread():
        return _discriminative_score(
            real,
            synthetic,
            make_model,
            iterations,
            batch,
            seed,
            lr,
            progress,
            "TimeGAN classifier",
            device,
        )
