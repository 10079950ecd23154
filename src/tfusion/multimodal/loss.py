"""The Transfusion loss: next-token cross-entropy on text plus lambda x diffusion loss on images."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfusion.devices import device_of, to_device
from tfusion.diffusion import Objective, Schedule, add_noise
from tfusion.multimodal.model import attention_mask
from tfusion.multimodal.sequences import Packed
from tfusion.training.distributed import World


def capped_times(t: Tensor, cap: Tensor, steps: int) -> Tensor:
    """Grid times t = k / steps rescaled into (0, cap]: step k goes to ceil(k x cap) (at
    least 1), so the capped times are the grid's first cap x steps steps. Counted on the
    integer k in float64: float32 t x steps x cap had landed some k x cap that are whole
    numbers (k = 2 at cap 0.5; 39 of 1000 steps at cap 0.3) one step too high."""
    k = torch.round(t.double() * steps)
    capped = torch.ceil(k * cap.double() - 1e-9).clamp(min=1)
    return (capped / steps).to(t.dtype)


def transfusion_loss(
    model: nn.Module,
    batch: Packed,
    schedule: Schedule,
    generator: torch.Generator | None = None,
    diffusion_weight: float = 5.0,
    world: World | None = None,
    prediction: str = "eps",
    bidirectional: bool = True,
    t_cap: Tensor | None = None,
    clean: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """LM cross-entropy per text token + diffusion_weight x noise MSE per image.

    LM: the prediction at position i is scored against token i + 1 when both i and i + 1 are
    text (so nothing is asked at a BOI input, whose next element is a patch, nor at the last
    patch). Diffusion: every image draws its own time and noise (noise per pixel is noise per
    patch value, patchifying only reorders); the loss is the mean squared error of the noise
    prediction over each image's values, averaged over images.

    Data parallel: `batch` is the GLOBAL batch; times and noise are drawn for all of it (the
    same on every rank), the model runs on this rank's rows, and both means are taken over the
    global counts (x world.slices, which DDP's gradient averaging and the trainer's division
    over micro-batches take out again), so N ranks, each in K micro-batches, step exactly like
    one process with the whole batch.

    Per row (global batch) options: `t_cap` (B,) caps the diffusion time of the row's images
    (t drawn on the step grid, then rescaled into (0, cap]: the captioning recipe draws image
    noise from the first half of the schedule only); `clean` (B,) bool feeds the row's images
    clean, at t = 0, as decoding feeds a finished or given image back, and leaves them out of
    the diffusion loss (there is no noise to predict). `bidirectional=False`: causal attention
    inside images too (the paper's ablation).

    Everything is drawn and laid out on the CPU and moved to the model's device for the
    forward; `parts` (the two terms, per rank) stay device tensors, so reading them is the
    caller's choice (a read waits for the GPU).
    """
    # the paper predicts the noise; v or x0 (diffusion.prediction) are the core's alternatives.
    # The loss is always the squared error (diffusion.loss and fourier_weight do not apply).
    objective = Objective(prediction)
    tokens, x0, image, valid = batch.tokens, batch.patches, batch.image, batch.valid
    b, n, p = x0.shape
    n_images = int(image.max().item()) + 1 if (image >= 0).any() else 0
    # one time per (sequence, image), spread to its patch positions
    t_img = schedule.sample_t(b * max(n_images, 1), generator).view(b, max(n_images, 1))
    steps = schedule.num_steps
    if t_cap is not None:
        t_img = capped_times(t_img, t_cap.view(b, 1), steps)
    if clean is not None:
        t_img = torch.where(clean.view(b, 1), torch.zeros_like(t_img), t_img)
    t = torch.where(image >= 0, t_img.gather(1, image.clamp(min=0)), torch.zeros(b, n))
    alpha, sigma = (v.float() for v in schedule.alpha_sigma(t))  # (B, T): per position
    eps = torch.randn(x0.shape, generator=generator)
    is_patch = (image >= 0)[..., None]
    x_t = torch.where(is_patch, add_noise(x0, eps, alpha, sigma), x0)
    target = objective.target(x0, eps, alpha, sigma)

    text = (image < 0) & valid
    scored = text[:, :-1] & text[:, 1:]
    n_scored = int(scored.sum())  # global counts: the denominators of both means
    noisy = valid if clean is None else valid & ~clean.view(b, 1)  # clean images: no loss
    n_drawn = sum(int(((image == i) & noisy).any(1).sum()) for i in range(n_images))
    dev = device_of(model)
    rank_rows = world.shard if world is not None else (lambda v: v)
    tokens, x_t, target, image, valid, noisy, t, scored, positions = (
        to_device(rank_rows(v), dev)
        for v in (tokens, x_t, target, image, valid, noisy, t, scored, batch.positions)
    )
    mask = attention_mask(image, valid, bidirectional)
    logits, pred = model(tokens, x_t, image, t, mask, positions)
    # global means: DDP averages the ranks' gradients and the trainer divides each of a
    # step's micro-batches by their count; undo both (the rows of every slice sum to the whole)
    scale = world.slices if world is not None else 1

    lm = None
    if n_scored:
        ce = F.cross_entropy(logits[:, :-1][scored], tokens[:, 1:][scored], reduction="sum")
        lm = ce * (scale / n_scored)
    # the objective's loss per position: each sample of loss_per_sample is one patch's values
    per_value = objective.loss_per_sample(pred.reshape(-1, p), target.reshape(-1, p))
    per_value = per_value.view(pred.shape[:2])  # (B, T)
    diff = None
    if n_drawn:
        diff = per_value.sum() * 0.0
        for i in range(n_images):
            sel = (image == i) & noisy
            counts = sel.sum(1).clamp(min=1)
            diff = diff + ((per_value * sel).sum(1) / counts).sum()  # rows without it add 0
        diff = diff * (scale / n_drawn)
    # both heads stay in the graph when a batch has no text or no noisy image (text-only rows,
    # clean images): DDP waits for a gradient from every parameter, zero or not
    zero = logits.sum() * 0.0 + pred.sum() * 0.0
    total = (lm if lm is not None else zero) + diffusion_weight * (
        diff if diff is not None else zero
    )
    nan = torch.full((), float("nan"), device=dev)
    parts = {
        "lm": lm.detach() / scale if lm is not None else nan,
        "diffusion": diff.detach() / scale if diff is not None else nan,
    }
    return total, parts
