"""Context-FID (Diffusion-TS): Fréchet distance of TS2Vec embeddings of real and synthetic windows.

The encoder follows TS2Vec (Yue et al. 2022): a linear input projection, timestamp masking, a stack
of dilated 1-D convolution residual blocks, and the hierarchical contrastive loss on two
overlapping random crops. It is trained on the real windows only; each window is then embedded as
the max over time of the encoder output (TS2Vec's "full_series" encoding) and a Gaussian is fitted
to each set of embeddings.

The encoder trains and embeds on `device` (None: the CPU). Its random draws (initial weights,
batches, crops, timestamp masks) stay on the CPU generator, so a seed draws the same numbers on
every device.

Dimension letters: B batch, L time steps, C features, D encoder width.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn
from tqdm.auto import tqdm

from tfusion.devices import device_of, load_device, to_device
from tfusion.errors import DataError
from tfusion.metrics.probes import seeded

# Hidden 64, output 320 and 10 blocks are TS2Vec's defaults and batch 8 is Diffusion-TS's call. The
# iterations are TS2Vec's default for small data sets: Diffusion-TS's tables used 600 (TS2Vec's rule
# for data of more than 100k values), but that costs ~3x more at L = 384 and the score keeps growing
# with training, so pass iterations=600 to compare with published numbers. Measured on ETTh windows
# (L = 384, 1000 + 1000): 200 steps give a seed-to-seed spread of 4-15% and already see time order
# (shuffled windows score ~20x real-vs-real; ~8x after 100 steps); hidden 32 spread 20-50%.
ITERATIONS = 200
BATCH_SIZE = 8


def gaussian_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of the rows of x (n, d), in float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise DataError(
            f"need at least 2 embeddings of shape (n, d) to fit a Gaussian, got {x.shape}"
        )
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _sqrtm(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        # singular inputs are expected here (n < d, collinear embeddings); the caller checks the
        # result instead of printing scipy's warning
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        return linalg.sqrtm(a)


def frechet_distance(
    mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray, eps: float = 1e-6
) -> float:
    """||mu1 - mu2||² + tr(cov1 + cov2 - 2 (cov1 cov2)^½), the Fréchet distance of two Gaussians."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    diff = mu1 - mu2
    covmean = _sqrtm(cov1 @ cov2)
    # a singular product can give a non-finite or clearly complex root; as in the reference FID
    # code, add eps to both covariances' diagonals and retry
    scale = max(float(np.abs(np.trace(cov1 @ cov2))), 1e-30) ** 0.5
    if not np.isfinite(covmean).all() or np.abs(np.imag(covmean)).max() > 1e-3 * scale:
        offset = eps * np.eye(len(cov1))
        covmean = _sqrtm((cov1 + offset) @ (cov2 + offset))
    # the product of two PSD matrices has real non-negative eigenvalues: any imaginary part left
    # is rounding error
    covmean = np.real(covmean)
    fd = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean)
    # the distance is non-negative; tiny negatives (identical sets) are rounding
    return max(float(fd), 0.0)


class _Block(nn.Module):
    """GELU -> dilated conv -> GELU -> dilated conv, plus a (projected) residual."""

    def __init__(self, c_in: int, c_out: int, dilation: int, final: bool) -> None:
        super().__init__()
        # kernel 3 with padding = dilation keeps the length ("same" padding)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=dilation, dilation=dilation)
        self.proj = nn.Conv1d(c_in, c_out, 1) if c_in != c_out or final else None

    @staticmethod
    def _conv(conv: nn.Conv1d, h: torch.Tensor) -> torch.Tensor:
        # once the dilation reaches the length, both outer taps only ever see zero padding: the
        # centre tap alone gives the same output at a third of the cost
        if conv.dilation[0] >= h.shape[-1]:
            return F.conv1d(h, conv.weight[:, :, 1:2], conv.bias)
        return conv(h)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, D, L) -> (B, D_out, L)
        res = h if self.proj is None else self.proj(h)
        return res + self._conv(self.conv2, F.gelu(self._conv(self.conv1, F.gelu(h))))


class TS2VecEncoder(nn.Module):
    """TS2Vec encoder (B, L, C) -> (B, L, output); inputs are min-max scaled by stored buffers."""

    def __init__(self, channels: int, hidden: int = 64, output: int = 320, depth: int = 10) -> None:
        super().__init__()
        self.input = nn.Linear(channels, hidden)
        widths = [hidden] * depth + [output]
        self.blocks = nn.Sequential(
            *(
                _Block(widths[i - 1] if i else hidden, w, 2**i, i == len(widths) - 1)
                for i, w in enumerate(widths)
            )
        )
        self.dropout = nn.Dropout(0.1)
        # the real data's per-feature range, so the encoder takes windows in their own units
        self.register_buffer("lo", torch.zeros(channels))
        self.register_buffer("span", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input((x - self.lo) / self.span)  # (B, L, D)
        if self.training:
            # timestamp masking: hide the whole latent vector at random time steps (p = 0.5)
            # drawn on the CPU generator, whatever the device
            mask = torch.bernoulli(torch.full(h.shape[:2], 0.5))
            h = h * to_device(mask, h.device).unsqueeze(-1)
        h = self.blocks(h.transpose(1, 2)).transpose(1, 2)  # (B, L, output)
        return self.dropout(h)


def _contrast(z: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of picking each row's partner among the other 2N-1 rows; z is (G, 2N, D)."""
    n = z.shape[1] // 2
    sim = z @ z.transpose(1, 2)  # (G, 2N, 2N)
    # a row may not pick itself: -inf on the diagonal is TS2Vec's "drop the diagonal" without the
    # copies (tril + triu) it costs
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logp = F.log_softmax(sim.masked_fill(eye, float("-inf")), dim=-1)
    i = torch.arange(n, device=z.device)
    return -(logp[:, i, n + i].mean() + logp[:, n + i, i].mean()) / 2


def hierarchical_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """TS2Vec loss of two views (B, T, D): instance + temporal contrast at every time scale."""
    loss, levels = z1.new_zeros(()), 0
    while z1.shape[1] > 1:
        if z1.shape[0] > 1:  # instance contrast: the same time step in the other windows
            loss = loss + 0.5 * _contrast(torch.cat([z1, z2], 0).transpose(0, 1))
        # temporal contrast: the other time steps of the same window
        loss = loss + 0.5 * _contrast(torch.cat([z1, z2], 1))
        levels += 1
        z1 = F.max_pool1d(z1.transpose(1, 2), 2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), 2).transpose(1, 2)
    if z1.shape[0] > 1:
        loss = loss + 0.5 * _contrast(torch.cat([z1, z2], 0).transpose(0, 1))
    levels += 1
    return loss / max(levels, 1)


def _crop_pair(x: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Two random crops of each window (B, L, C) that overlap on `crop` steps (TS2Vec's scheme)."""
    b, length = x.shape[:2]
    crop = int(rng.integers(2, length + 1))
    left = int(rng.integers(0, length - crop + 1))
    right = left + crop
    ext_left = int(rng.integers(0, left + 1))
    ext_right = int(rng.integers(right, length + 1))
    # the same crop geometry shifted by a per-window offset, kept inside the window
    offset = rng.integers(-ext_left, length - ext_right + 1, size=b)

    def take(start: int, size: int) -> torch.Tensor:
        idx = torch.as_tensor(offset[:, None] + start + np.arange(size))  # (B, size)
        return x[torch.arange(b)[:, None], idx]

    return take(ext_left, right - ext_left), take(left, ext_right - left), crop


def _check_windows(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] < 2 or len(x) < 2:
        raise DataError(f"{name} windows must have shape (n >= 2, L >= 2, C), got {x.shape}")
    if not np.isfinite(x).all():
        raise DataError(f"{name} windows contain NaN/inf values; remove or fill them first")
    return x


def train_encoder(
    real: np.ndarray,
    seed: int = 0,
    iterations: int = ITERATIONS,
    batch_size: int = BATCH_SIZE,
    hidden: int = 64,
    output: int = 320,
    depth: int = 10,
    lr: float = 1e-3,
    progress: bool = False,
    *,
    device: str | torch.device | None = None,
    scale: bool = True,
) -> TS2VecEncoder:
    """Train a TS2Vec encoder on real windows (n, L, C); same seed and same set -> same encoder.

    Returns the running average of the weights, the initial ones and those after every step
    (TS2Vec encodes with this SWA model, started from the initial weights), in eval mode, on
    `device` (default the CPU), where it trains. `scale` min-max scales every input by the real
    windows' range inside the encoder; without it the encoder sees the units it is given
    (Diffusion-TS feeds TS2Vec the windows as they are: the suite scales them itself, or not).
    """
    dev = load_device(device)
    real = _check_windows(real, "real")
    # train on a canonical order of the windows so the encoder depends on the set, not its order
    flat = np.ascontiguousarray(real, dtype=np.float32).reshape(len(real), -1)
    order = sorted(range(len(real)), key=lambda i: flat[i].tobytes())
    data = torch.from_numpy(flat[order].reshape(real.shape))
    rng = np.random.default_rng(seed)
    batch_size = min(batch_size, len(data))
    # seed init, masks and dropout without touching the caller's global generators
    with seeded(seed, dev):
        net = TS2VecEncoder(real.shape[2], hidden, output, depth)
        lo = data.amin(dim=(0, 1))
        span = data.amax(dim=(0, 1)) - lo
        if scale:
            net.lo.copy_(lo)
            net.span.copy_(torch.where(span > 0, span, torch.ones_like(span)))
        net.to(dev)
        avg = copy.deepcopy(net)  # the running average of the weights
        opt = torch.optim.AdamW(net.parameters(), lr=lr)
        perm, pos = rng.permutation(len(data)), 0
        steps = tqdm(range(iterations), desc="Context-FID encoder", disable=not progress)
        for step in steps:
            if pos + batch_size > len(data):  # epochs of shuffled batches, last partial one dropped
                perm, pos = rng.permutation(len(data)), 0
            view1, view2, crop = _crop_pair(data[perm[pos : pos + batch_size]], rng)
            view1, view2 = to_device(view1, dev), to_device(view2, dev)
            pos += batch_size
            z1, z2 = net(view1)[:, -crop:], net(view2)[:, :crop]  # the overlapping steps
            loss = hierarchical_contrastive_loss(z1, z2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # the mean of the initial weights and those after steps 0 ... step
            _average_into(avg, net, step + 1)
    return avg.eval()


@torch.no_grad()
def _average_into(avg: nn.Module, net: nn.Module, n: int) -> None:
    """Fold `net`'s weights into `avg`, the mean of the `n` weights seen so far.

    The update of torch's `AveragedModel` (SWA), with the count kept on the host: its count is a
    tensor that every step reads back, which on an accelerator waits for the device.
    """
    pairs = list(zip(avg.parameters(), net.parameters(), strict=True))
    if n == 0:
        for a, p in pairs:
            a.copy_(p)
    elif next(avg.parameters()).device.type == "cpu":
        for a, p in pairs:  # AveragedModel's arithmetic on the CPU
            a.copy_(a + (p - a) / (n + 1))
    else:  # and its fused update on accelerators
        torch._foreach_lerp_([a for a, _ in pairs], [p for _, p in pairs], 1 / (n + 1))


@torch.no_grad()
def embed_windows(
    encoder: TS2VecEncoder,
    windows: np.ndarray,
    batch_size: int = 128,
    *,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """One vector per window (n, output): the max over time of the encoder output.

    Runs where the encoder is; `device` moves the encoder there first (in place).
    """
    windows = _check_windows(windows, "embedded")
    if device is not None:
        encoder.to(load_device(device))
    dev = device_of(encoder)
    encoder.eval()
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
    out = [
        encoder(to_device(x[i : i + batch_size], dev)).amax(dim=1)
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out).cpu().double().numpy()


def context_fid(
    real: np.ndarray,
    synthetic: np.ndarray,
    seed: int = 0,
    iterations: int = ITERATIONS,
    encoder: TS2VecEncoder | None = None,
    *,
    device: str | torch.device | None = None,
) -> float:
    """Context-FID of synthetic vs real windows (n, L, C), encoder trained on real if not given.

    The encoder trains and embeds on `device` (default the CPU); a given encoder embeds where it
    is unless `device` is set (it is then moved there).
    """
    real, synthetic = _check_windows(real, "real"), _check_windows(synthetic, "synthetic")
    if real.shape[1:] != synthetic.shape[1:]:
        raise DataError(
            f"real windows are {real.shape[1:]} (L, C) but synthetic are {synthetic.shape[1:]}"
        )
    if encoder is None:
        encoder = train_encoder(real, seed=seed, iterations=iterations, device=load_device(device))
    elif device is not None:
        encoder.to(load_device(device))
    mu_r, cov_r = gaussian_stats(embed_windows(encoder, real))
    mu_s, cov_s = gaussian_stats(embed_windows(encoder, synthetic))
    return frechet_distance(mu_r, cov_r, mu_s, cov_s)
