"""Discriminative scores: how well a small classifier tells real windows from synthetic ones.

Every score trains a classifier on 80% of the real and 80% of the synthetic windows and reports
|accuracy - 0.5| on the held-out 20% of both (0 = indistinguishable, 0.5 = fully separable):

- `lds`: TransFusion's long-sequence discriminative score exactly as its published code computes
  it (a one-layer `nn.TransformerEncoderLayer` of width 8 with PyTorch's defaults, tested with
  dropout on);
- `lds_fast` ("lds-fast" in the suite): tfusion's stable, fast version of it (width 32, patches of
  time steps once L > 64, fused attention, eval-mode testing); see its docstring and
  benchmarks/RESULTS.md for how the two agree;
- `timegan_discriminative`: TimeGAN's GRU classifier, the version in Diffusion-TS's tables.

The probe parts shared with `tfusion.metrics.predictive` (the encoders, the seeded training
loop, batched prediction, the canonical window order) live in `tfusion.metrics.probes`.

Every probe takes `device` (None: the CPU; "auto", "cpu", "cuda", "cuda:N", "mps" or a
torch.device). The model is built on the CPU and moved there, and every random draw (split,
batches, initial weights) stays on a CPU generator, so a seed draws the same windows on every
device and the CPU scores do not depend on it; dropout on an accelerator uses its own generator,
seeded from the same seed.

Dimension letters: B batch, L time steps, C features, D width, H heads, F feed-forward width.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfusion.devices import load_device
from tfusion.errors import DataError
from tfusion.metrics.distribution import check_pair
from tfusion.metrics.probes import (  # re-exported: the probes' public parts
    EncoderLayer,
    PublishedEncoder,
    canonical,
    fit,
    predict,
    seeded,
)
from tfusion.threads import single_thread

__all__ = [
    "EncoderLayer",
    "PublishedEncoder",
    "TransformerClassifier",
    "bce_first_real",
    "canonical",
    "fit",
    "lds",
    "lds_fast",
    "predict",
    "seeded",
    "timegan_discriminative",
]

TRAIN_FRACTION = 0.8  # TimeGAN's train_test_divide, used by TransFusion and Diffusion-TS
MIN_WINDOWS = 5  # the fewest windows that leave at least one for testing after an 80/20 split


class TransformerClassifier(nn.Module):
    """An LDS classifier: encoder, mean over the tokens, Linear(D -> 1) logit.

    `published=True` is TransFusion's (`PublishedEncoder`); otherwise the fast `EncoderLayer`
    with the given feed-forward width, dropout and patch length.
    """

    def __init__(
        self,
        features: int,
        length: int,
        width: int,
        heads: int,
        feedforward: int = 2048,
        dropout: float = 0.1,
        patch: int = 1,
        published: bool = False,
        position_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.encoder: nn.Module = (
            PublishedEncoder(features, length, width, heads)
            if published
            else EncoderLayer(
                features,
                length,
                width,
                heads,
                feedforward,
                dropout,
                patch=patch,
                position_scale=position_scale,
            )
        )
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
    test_dropout: bool = False,
) -> float:
    """Split 80/20, train make_model(L, C) on real (label 1) vs synthetic (0), |acc - 0.5|.

    `test_dropout`: predict the held-out windows with dropout on (the published LDS)."""
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
        p_real = predict(model, real_test, dropout=test_dropout)
        p_syn = predict(model, syn_test, dropout=test_dropout)
    correct = (p_real > 0).sum() + (p_syn <= 0).sum()
    accuracy = correct.item() / (len(real_test) + len(syn_test))
    return abs(accuracy - 0.5)


def lds(
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
    """TransFusion's long-sequence discriminative score |accuracy - 0.5|, as published; 0 is best.

    Inputs are (n, L, C) windows already min-max normalised to [0, 1] by the caller (the real
    data's per-feature range applied to both). What the published code
    (`long_discriminative_score.py`) computes: each side split 80/20 (TimeGAN's
    `train_test_divide`, here seeded); the classifier Linear(C -> 8) + sinusoidal positions + one
    `nn.TransformerEncoderLayer(d_model=8, nhead=8)` with PyTorch's defaults (feed-forward 2048,
    dropout 0.1 including the attention weights, ReLU, post-norm) + mean over time +
    Linear(8 -> 1), trained `iterations` Adam steps (lr 1e-3) on `batch` real + `batch` synthetic
    training windows with BCE (real-side mean plus synthetic-side mean), then the held-out windows
    of both sides predicted **with dropout still on** (the published code never calls `eval()`),
    threshold 0.5 on the probability. Same windows (in any order) and seed -> same score.

    Cost on a 2-core CPU (benchmarks/RESULTS.md, "Score variants"): about 0.2 s per step at
    L = 24 and 12 s at L = 384 (8 heads x L^2 attention weights materialised for the dropout, and
    2048-wide activations for every step), i.e. hours at L = 384: use `device="cuda"` there, or
    `lds_fast`.
    """

    def make_model(length: int, features: int) -> nn.Module:
        return TransformerClassifier(features, length, 8, 8, published=True)

    return _discriminative_score(
        real,
        synthetic,
        make_model,
        iterations,
        batch,
        seed,
        lr,
        progress,
        "LDS classifier (published)",
        device,
        test_dropout=True,
    )


FAST_TOKENS = 64  # lds_fast: patches of ceil(L / 64) steps, so at most 64 tokens per window


def lds_fast(
    real: np.ndarray,
    synthetic: np.ndarray,
    iterations: int = 2000,
    batch: int = 128,
    seed: int = 0,
    *,
    width: int = 32,
    heads: int = 4,
    feedforward: int = 128,
    dropout: float = 0.1,
    patch: int | None = None,
    position_scale: float = 0.1,
    lr: float = 1e-3,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> float:
    """tfusion's fast, stable LDS ("lds-fast"): |accuracy - 0.5| of a transformer classifier.

    The split, batches, loss, optimiser and score of `lds`, with a classifier that trains reliably
    and costs a fraction: width 32 with 4 heads of 8 (published: 8 heads of width 1) and a
    feed-forward of 128 (published: 2048), the position table at a tenth of its amplitude
    (`position_scale`), no dropout on the attention weights (fused attention), time cut into
    patches of `patch` steps, one token each (default ceil(L / 64): none up to L = 64, 6 steps at
    L = 384), and the held-out windows predicted in eval mode (dropout off).

    Why (benchmarks/RESULTS.md, "Score variants"): the published classifier often fails to learn
    a separable pair within its 2000 steps and scores it near 0. Its training loss sits on the
    chance plateau (2 ln 2) because the sinusoidal table (amplitude 1 in every channel) dwarfs the
    embedded [0, 1] data (about 0.3), so after the post-norm the tokens of every window look alike
    and the pooled features barely differ. Width 8 escaped the plateau after 1800 steps or never
    (4 seeds on a jittered pair); width 32 after 800-1200; width 32 with the table scaled by 0.1
    after 400-600, reaching a training loss of 0.03-0.06.
    """
    p = patch or max(1, -(-real.shape[1] // FAST_TOKENS))

    def make_model(length: int, features: int) -> nn.Module:
        return TransformerClassifier(
            features, length, width, heads, feedforward, dropout, p, position_scale=position_scale
        )

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
