"""Predictive scores, train on synthetic and test on real: can a model fitted to the synthetic
windows forecast the real data?

Both predictors read the first C - 1 features and predict the last feature one step ahead
(inputs x[:, :-1, :C-1], targets x[:, 1:, C-1]) with a sigmoid output and an L1 loss; the score is
the mean absolute error over all real windows (lower is better):

- `lps`: TransFusion's long-sequence predictive score, a one-layer transformer predictor;
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
from tfusion.metrics.discriminative import (
    EncoderLayer,
    canonical,
    fit,
    predict,
    seeded,
    single_thread,
)
from tfusion.metrics.distribution import check_pair


class TransformerPredictor(nn.Module):
    """TransFusion's LPS predictor: encoder layer, then Linear(D -> 1) and a sigmoid per step."""

    def __init__(
        self,
        features: int,
        length: int,
        width: int,
        heads: int,
        feedforward: int,
        dropout: float,
        causal: bool,
    ) -> None:
        super().__init__()
        self.encoder = EncoderLayer(features, length, width, heads, feedforward, dropout, causal)
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
) -> float:
    """Train make_model(steps L - 1, inputs C - 1, width max(1, C // 2)) on synthetic windows;
    return its mean absolute error on all real windows."""
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
    errors = (predict(model, ref[:, :-1, :-1]) - ref[:, 1:, -1]).abs()  # on the CPU
    return errors.double().mean().item()


def lps(
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
    lr: float = 1e-3,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> float:
    """TransFusion's long-sequence predictive score (MAE, train on synthetic, test on real).

    Inputs are (n, L, C) windows already min-max normalised to [0, 1] by the caller, C >= 2. The
    predictor is Linear(C - 1 -> D) + sinusoidal positions + one transformer encoder layer of
    width D = max(1, C // 2) with D heads (as published: one channel per head), feed-forward
    `feedforward` (default 4 D; the published code leaves PyTorch's 2048), then Linear(D -> 1) and
    a sigmoid; it is trained `iterations` Adam steps on `batch` synthetic windows with an L1 loss
    and scored in eval mode as the mean absolute error over all real windows.

    Two versions, chosen by `causal`:

    - `causal=False` (default) is the **published** LPS: no attention mask, so the prediction at
      step t sees the other features of the whole window, including steps after t + 1;
    - `causal=True` is the **causal (forecasting)** LPS: step t attends to steps <= t only.

    Caveat of the published architecture, kept for comparability: the layer ends in a LayerNorm
    over D channels, which leaves D - 2 degrees of freedom per step. At C <= 3 (D = 1) the
    predictor can only output a constant, at C = 4 or 5 (D = 2) one of two values; `width`
    overrides D for data with few features (the score is then no longer the published one).
    Also unlike the published code, the real windows are predicted in eval mode (no dropout).
    Cost: about 0.2-0.3 s per step at L = 384, C = 6 on one CPU core; `device` (default the
    CPU) trains the predictor elsewhere, e.g. "cuda".
    """

    def make_model(steps: int, inputs: int, default_width: int) -> nn.Module:
        d = width or default_width
        hidden = feedforward or 4 * d
        return TransformerPredictor(inputs, steps, d, heads or d, hidden, dropout, causal)

    desc = f"LPS predictor ({'causal' if causal else 'published'})"
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
