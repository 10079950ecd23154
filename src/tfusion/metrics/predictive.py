"""Predictive scores, train on synthetic and test on real: can a model fitted to the synthetic
windows forecast the real data?

Both predictors read the first C - 1 features and predict the last feature one step ahead
(inputs x[:, :-1, :C-1], targets x[:, 1:, C-1]) with a sigmoid output and an L1 loss; the score is
the mean absolute error over all real windows (lower is better):

- `lps`: TransFusion's long-sequence predictive score exactly as its published code computes it
  (a one-layer `nn.TransformerEncoderLayer` with PyTorch's defaults, tested with dropout on);
- `lps_fast` ("lps-fast" in the suite): tfusion's fast version (a 4 D feed-forward, fused
  attention within blocks of 64 steps, eval-mode testing); RESULTS.md, "Score variants", says how
  the two agree;
- `timegan_predictive`: TimeGAN's GRU predictor, the version in Diffusion-TS's tables.

Both take `device` (None: the CPU), as the discriminative probes do (see
`tfusion.metrics.discriminative`).

Dimension letters: B batch, L time steps, C features, D width.
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
from tfusion.metrics.probes import (
    EncoderLayer,
    PublishedEncoder,
    canonical,
    fit,
    predict,
    seeded,
)
from tfusion.threads import single_thread


class TransformerPredictor(nn.Module):
    """An LPS predictor: encoder, then Linear(D -> 1) and a sigmoid per step.

    `published=True` is TransFusion's (`PublishedEncoder`, in the published order of creation);
    otherwise the fast `EncoderLayer` with the given feed-forward, dropout, mask and blocks.
    """

    def __init__(
        self,
        features: int,
        length: int,
        width: int,
        heads: int,
        feedforward: int = 2048,
        dropout: float = 0.1,
        causal: bool = False,
        block: int | None = None,
        published: bool = False,
    ) -> None:
        super().__init__()
        self.encoder: nn.Module = (
            PublishedEncoder(features, length, width, heads)
            if published
            else EncoderLayer(
                features, length, width, heads, feedforward, dropout, causal, block=block
            )
        )
        self.head = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L, C - 1) -> predictions (B, L) in (0, 1)."""
        return torch.sigmoid(self.head(self.encoder(x))).squeeze(-1)


class GRUPredictor(nn.Module):
    """TimeGAN's predictor: one GRU layer, then Linear(hidden -> 1) and a sigmoid per step."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L, C - 1) -> predictions (B, L) in (0, 1)."""
        out, _ = self.gru(x)  # (B, L, hidden)
        return torch.sigmoid(self.head(out)).squeeze(-1)


def _predictive_score(
    real: np.ndarray,
    synthetic: np.ndarray,
    make_model: Callable[[int, int, int], nn.Module],
    iterations: int,
    batch: int,
    seed: int,
    lr: float,
    progress: bool,
    desc: str,
    device: str | torch.device | None,
    test_dropout: bool = False,
) -> float:
    """Train make_model(steps L - 1, inputs C - 1, width max(1, C // 2)) on synthetic windows;
    return its mean absolute error on all real windows (predicted with dropout on if
    `test_dropout`, as the published LPS does)."""
    dev = load_device(device)
    check_pair(real, synthetic)
    n_real, length, features = real.shape
    if features < 2:
        raise DataError(
            "predictive scores need at least 2 features (the last one is predicted from the "
            f"others), got {features}"
        )
    if length < 2:
        raise DataError(f"predictive scores need windows of at least 2 steps, got {length}")
    if min(n_real, len(synthetic)) < 1 or iterations < 1 or batch < 1:
        raise DataError(
            f"need at least 1 real and 1 synthetic window, iterations and batch >= 1; got "
            f"{n_real}, {len(synthetic)}, {iterations}, {batch}"
        )
    syn, ref = canonical(synthetic), canonical(real)

    def draw() -> tuple[Tensor, Tensor]:
        x = syn[torch.randperm(len(syn))[:batch]]
        return x[:, :-1, :-1], x[:, 1:, -1]  # (B, L-1, C-1), (B, L-1)

    with seeded(seed, dev):
        # both papers size the predictor max(1, C // 2) (TimeGAN: hidden_dim = int(dim / 2))
        model = make_model(length - 1, features - 1, max(1, features // 2)).to(dev)
        fit(model, draw, F.l1_loss, iterations, lr, progress, desc)
        predicted = predict(model, ref[:, :-1, :-1], dropout=test_dropout)
    errors = (predicted - ref[:, 1:, -1]).abs()  # on the CPU
    return errors.double().mean().item()


def lps(
    real: np.ndarray,
    synthetic: np.ndarray,
    iterations: int = 5000,
    batch: int = 128,
    seed: int = 0,
    *,
    lr: float = 1e-3,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> float:
    """TransFusion's long-sequence predictive score as published (MAE, train synthetic, test real).

    Inputs are (n, L, C) windows already min-max normalised to [0, 1] by the caller, C >= 2. What
    the published code (`long_predictive_score.py`) computes: the predictor Linear(C - 1 -> D) +
    sinusoidal positions + one `nn.TransformerEncoderLayer(d_model=D, nhead=D)` with PyTorch's
    defaults (feed-forward 2048, dropout 0.1 including the attention weights, ReLU, post-norm),
    D = C // 2, then Linear(D -> 1) and a sigmoid at every step; it reads features 0 .. C - 2 at
    steps 0 .. L - 2 and predicts feature C - 1 one step ahead, with no attention mask (a step
    sees the whole window); trained `iterations` Adam steps (lr 1e-3) on min(`batch`, n) of all
    synthetic windows with an L1 loss, then every real window predicted **with dropout still
    on** (the published code never calls `eval()`) and the absolute errors averaged.

    Caveat of the published architecture: the layer ends in a LayerNorm over D channels, so at
    C <= 3 (D = 1) the predictor outputs a constant and at C = 4 or 5 one of two values per step.
    Cost on a 2-core CPU: about 0.07 s per step at L = 24 and 2.4 s at L = 384 (C = 6), i.e.
    hours at L = 384: use `device="cuda"` there, or `lps_fast`.
    """

    def make_model(steps: int, inputs: int, width: int) -> nn.Module:
        return TransformerPredictor(inputs, steps, width, width, published=True)

    return _predictive_score(
        real,
        synthetic,
        make_model,
        iterations,
        batch,
        seed,
        lr,
        progress,
        "LPS predictor (published)",
        device,
        test_dropout=True,
    )


FAST_BLOCK = 64  # lps_fast: attention within blocks of 64 steps


def lps_fast(
    real: np.ndarray,
    synthetic: np.ndarray,
    iterations: int = 5000,
    batch: int = 128,
    seed: int = 0,
    causal: bool = False,
    *,
    width: int | None = None,
    heads: int | None = None,
    feedforward: int | None = None,
    dropout: float = 0.1,
    block: int | None = FAST_BLOCK,
    lr: float = 1e-3,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> float:
    """tfusion's fast LPS ("lps-fast"): the inputs, target, training and score of `lps` with a
    cheaper predictor.

    Width D = max(1, C // 2) with D heads as published; a feed-forward of `feedforward` (default
    4 D; published 2048); no dropout on the attention weights (fused attention); each step
    attends only within its `block` of steps (default 64; None = the whole window, as published),
    which makes the attention L / 64 times cheaper at long L while the next step's value still
    depends on its neighbourhood; and every real window predicted in eval mode (dropout off).

    `causal=True` is the forecasting version: step t attends to steps <= t only. `width`
    overrides D for data with few features (at C <= 3 the published D = 1 can only output a
    constant: see `lps`). Cost: about 0.02 s per step at L = 384, C = 6 on 2 CPU cores.
    """

    def make_model(steps: int, inputs: int, default_width: int) -> nn.Module:
        d = width or default_width
        hidden = feedforward or 4 * d
        return TransformerPredictor(inputs, steps, d, heads or d, hidden, dropout, causal, block)

    desc = f"LPS predictor ({'causal' if causal else 'fast'})"
    return _predictive_score(
        real, synthetic, make_model, iterations, batch, seed, lr, progress, desc, device
    )


def timegan_predictive(
    real: np.ndarray,
    synthetic: np.ndarray,
    iterations: int = 5000,
    batch: int = 128,
    seed: int = 0,
    *,
    lr: float = 1e-3,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> float:
    """TimeGAN's predictive score (MAE, train on synthetic, test on real), as in Diffusion-TS.

    Inputs are (n, L, C) windows already min-max normalised to [0, 1] by the caller, C >= 2. Same
    inputs, targets, training and score as `lps`, with TimeGAN's predictor: one GRU layer of hidden
    size max(1, C // 2), then Linear(hidden -> 1) and a sigmoid at every step. The GRU is causal
    by construction. Runs on one thread (see `single_thread`); about 0.14 s per step at L = 384.
    `device`: as in `lps`.
    """

    def make_model(steps: int, inputs: int, width: int) -> nn.Module:
        return GRUPredictor(inputs, width)

    with single_thread():
        return _predictive_score(
            real,
            synthetic,
            make_model,
            iterations,
            batch,
            seed,
            lr,
            progress,
            "TimeGAN predictor",
            device,
        )
