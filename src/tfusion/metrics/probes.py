"""The probe machinery shared by the discriminative and predictive scores.

The one-layer transformer encoders (tfusion's fast `EncoderLayer`, TransFusion's
`PublishedEncoder`), the seeded training loop, batched prediction and the canonical window order.
Every random draw stays on a CPU generator (see `seeded`), so a seed draws the same windows and
initial weights on every device.

Dimension letters: B batch, L time steps, C features, D width, H heads, F feed-forward width.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfusion.devices import device_of, to_device
from tfusion.nn import SelfAttention, position_table
from tfusion.progress import progress as progress_bar


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
