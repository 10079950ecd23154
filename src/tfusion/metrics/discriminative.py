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

    The fast probes' encoder: TransFusion's scoring layer (see `PublishedEncoder`) with three
    changes. The feed-forward width is explicit (published: PyTorch's default 2048). There is no
    dropout on the attention weights: it forces PyTorch's unfused attention on CPU, which
    materialises (B, H, L, L) and is about 10x slower at L = 384. `patch` > 1 embeds
    non-overlapping patches of that many steps as one token each (the window is zero-padded at
    its end to a whole number of patches): L / patch tokens, so attention costs patch^2 less.
    `block` (if set) lets each step attend only within its block of that many steps (the last
    block is aligned to the window's end and overlaps the one before it; each step's output comes
    from the first block holding it), for per-step outputs at long L. `position_scale`
    multiplies the position table (1: the published amplitude).
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
        patch: int = 1,
        block: int | None = None,
        position_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.patch = patch
        self.block = block if block is not None and block < length else None
        self.embed = nn.Linear(features * patch, width)
        tokens = -(-length // patch)
        table = position_scale * position_table(tokens, width)
        self.register_buffer("pos", table, persistent=False)  # (T, D)
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
        """x (B, L, C) -> (B, T, D), T = ceil(L / patch) tokens (T = L without patches)."""
        if self.patch > 1:
            b, length, c = x.shape
            pad = -length % self.patch
            if pad:
                x = F.pad(x, (0, 0, 0, pad))
            x = x.reshape(b, (length + pad) // self.patch, self.patch * c)
        h = self.embed(x) + self.pos
        h = self.norm1(h + self.drop1(self._attend(h)))
        return self.norm2(h + self.drop2(self.ff(h)))

    def _attend(self, h: Tensor) -> Tensor:
        if self.block is None:
            return self.attn(h, is_causal=self.causal)
        b, length, d = h.shape
        n = self.block
        starts = [*range(0, length - n, n), length - n]
        blocks = torch.stack([h[:, s : s + n] for s in starts], dim=1)  # (B, K, n, D)
        out = self.attn(blocks.reshape(-1, n, d), is_causal=self.causal).reshape(b, -1, n, d)
        first = out[:, :-1].reshape(b, -1, d)  # steps 0 .. (K - 1) n - 1
        return torch.cat([first, out[:, -1, first.shape[1] - starts[-1] :]], dim=1)


class PublishedEncoder(nn.Module):
    """TransFusion's scoring encoder as its published code builds it.

    Linear(C -> D), the Vaswani sinusoidal table (no dropout; an odd D takes the first D columns
    of the D + 1 table), then one `nn.TransformerEncoderLayer(D, H)` with PyTorch's defaults:
    feed-forward 2048, dropout 0.1 on the attention weights, after the attention and in and after
    the feed-forward, ReLU, post-norm. The parameters are created in the published order
    (projection, layer, head), so a seed gives the published initial weights.
    """

    def __init__(self, features: int, length: int, width: int, heads: int) -> None:
        super().__init__()
        self.embed = nn.Linear(features, width)
        self.register_buffer("pos", position_table(length, width), persistent=False)  # (L, D)
        self.layer = nn.TransformerEncoderLayer(width, heads, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L, C) -> (B, L, D)."""
        return self.layer(self.embed(x) + self.pos)


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
def predict(model: nn.Module, x: Tensor, chunk: int = 256, dropout: bool = False) -> Tensor:
    """model(x) in eval mode, `chunk` windows at a time (bounded memory at long L), on the CPU.

    `x` may stay on the CPU: each chunk is moved to the model's device. `dropout=True` predicts in
    train mode instead (dropout on), as TransFusion's published scoring code does.
    """
    model.train(dropout)
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
