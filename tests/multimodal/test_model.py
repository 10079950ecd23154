"""Transfusion core: the attention mask, causality with bidirectional images, padding, the loss
terms, RoPE and the key/value cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tfusion.diffusion import Schedule
from tfusion.multimodal.loss import transfusion_loss
from tfusion.multimodal.model import MultimodalShape, MultimodalTransformer, attention_mask
from tfusion.multimodal.sequences import Packed
from tfusion.nn.llama import KVCache, apply_rope, rope_tables

BOI, EOI = 1, 2


def test_mask_of_a_hand_written_sequence():
    # [text, BOI, patch, patch, patch, EOI, text] and a second sequence padded after 3 elements
    image = torch.tensor([[-1, -1, 0, 0, 0, -1, -1], [-1, -1, 0, -1, -1, -1, -1]])
    valid = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    m = attention_mask(image, valid)[:, 0].int()
    first = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1, 0, 0],  # a patch sees the whole image, also later patches
            [1, 1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 1, 0],  # EOI is causal again
            [1, 1, 1, 1, 1, 1, 1],
        ]
    )
    second = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 1, 0, 0, 0],  # padding queries see only themselves
            [0, 0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 1],
        ]
    )
    assert torch.equal(m[0], first) and torch.equal(m[1], second)


def tiny_model(seed=0) -> MultimodalTransformer:
    torch.manual_seed(seed)
    model = MultimodalTransformer(
        MultimodalShape(vocab=11, patch_dim=4, width=32, depth=2, heads=2, hidden=64)
    )
    for p in model.parameters():  # leave the zero-initialised output head
        torch.nn.init.normal_(p, std=0.2)
    return model.eval()


def example(b=1):
    # text text BOI p p p EOI text BOI p p EOI text
    image = torch.tensor([[-1, -1, -1, 0, 0, 0, -1, -1, -1, 1, 1, -1, -1]] * b)
    tokens = torch.tensor([[5, 6, BOI, 0, 0, 0, EOI, 7, BOI, 0, 0, EOI, 8]] * b)
    gen = torch.Generator().manual_seed(0)
    patches = torch.randn(b, 13, 4, generator=gen) * (image >= 0)[..., None]
    valid = torch.ones(b, 13, dtype=torch.bool)
    return Packed(tokens, patches, image, valid)


def run(model, batch, t=None):
    t = torch.full(batch.image.shape, 0.5) if t is None else t
    mask = attention_mask(batch.image, batch.valid)
    with torch.no_grad():
        return model(batch.tokens, batch.patches, batch.image, t, mask, batch.positions)


@pytest.mark.parametrize("k", range(13))
def test_a_later_change_never_reaches_earlier_positions_except_in_the_same_image(k):
    model, batch = tiny_model(), example()
    logits, pred = run(model, batch)
    changed = Packed(batch.tokens.clone(), batch.patches.clone(), batch.image, batch.valid)
    if batch.image[0, k] >= 0:
        changed.patches[0, k] += 1.0
    else:
        changed.tokens[0, k] = (changed.tokens[0, k] + 3) % 11
    logits2, pred2 = run(model, changed)
    out = torch.cat([logits, pred], -1)[0]
    out2 = torch.cat([logits2, pred2], -1)[0]
    img = batch.image[0]
    for i in range(13):
        same_image = img[k] >= 0 and img[i] == img[k]
        moved = not torch.allclose(out[i], out2[i], atol=1e-6)
        if i < k and not same_image:
            assert not moved, (k, i)
        if i >= k or same_image:
            assert moved, (k, i)  # the change does reach these positions


def test_padding_does_not_change_valid_positions():
    model, batch = tiny_model(), example()
    logits, pred = run(model, batch)
    pad = 4
    padded = Packed(
        F.pad(batch.tokens, (0, pad), value=9),
        F.pad(batch.patches, (0, 0, 0, pad), value=3.0),
        F.pad(batch.image, (0, pad), value=-1),
        F.pad(batch.valid, (0, pad), value=False),
    )
    logits_p, pred_p = run(model, padded, torch.full(padded.image.shape, 0.5))
    torch.testing.assert_close(logits_p[:, :13], logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pred_p[:, :13], pred, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_lm_loss_scores_text_to_text_pairs_only(prediction):
    model, batch = tiny_model(), example()
    schedule = Schedule.create("cosine", 1000)
    gen = torch.Generator().manual_seed(3)
    total, parts = transfusion_loss(model, batch, schedule, gen, 5.0, prediction=prediction)
    # redo the forward with the same draws to get the logits the loss saw
    gen = torch.Generator().manual_seed(3)
    t_img = schedule.sample_t(2, gen).view(1, 2)
    img = batch.image
    t = torch.where(img >= 0, t_img.gather(1, img.clamp(min=0)), torch.zeros(1, 13))
    alpha, sigma = (v.float() for v in schedule.alpha_sigma(t))
    eps = torch.randn(batch.patches.shape, generator=gen)
    x_t = torch.where(
        (img >= 0)[..., None],
        alpha[..., None] * batch.patches + sigma[..., None] * eps,
        batch.patches,
    )
    logits, pred = run(model, Packed(batch.tokens, x_t, img, batch.valid), t)
    # text->text pairs by hand: 0->1, 1->2 (predicting BOI), 6->7 (EOI -> text),
    # 7->8 (-> BOI), 11->12
    pairs = [(0, 1), (1, 2), (6, 7), (7, 8), (11, 12)]
    lm = torch.stack([F.cross_entropy(logits[0, i], batch.tokens[0, j]) for i, j in pairs]).mean()
    assert float(parts["lm"]) == pytest.approx(float(lm), rel=1e-5)
    # diffusion: mean over the two images of each image's mean squared error of the target
    a, s = alpha[..., None], sigma[..., None]
    target = {"eps": eps, "v": a * eps - s * batch.patches, "x0": batch.patches}[prediction]
    err = (pred - target).pow(2).mean(-1)[0]
    diff = ((err[3:6].mean() + err[9:11].mean()) / 2).item()
    assert float(parts["diffusion"]) == pytest.approx(diff, rel=1e-5)
    assert float(total.detach()) == pytest.approx(float(lm) + 5.0 * diff, rel=1e-5)


def test_rope_depends_on_relative_position_only():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 1, 8, generator=gen), torch.randn(1, 1, 1, 8, generator=gen)

    def score(m, n):
        cq, sq = rope_tables(torch.tensor([[m]]), 8)
        ck, sk = rope_tables(torch.tensor([[n]]), 8)
        return float((apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum())

    assert score(7, 3) == pytest.approx(score(104, 100), rel=1e-4)
    assert score(7, 3) != pytest.approx(score(7, 4), rel=1e-3)
    cos, sin = rope_tables(torch.tensor([[5]]), 8)
    assert torch.linalg.norm(apply_rope(q, cos, sin)) == pytest.approx(float(torch.linalg.norm(q)))


def test_cached_incremental_forward_equals_the_full_forward():
    model = tiny_model()
    tokens = torch.tensor([[5, 6, 7, 3, 9, 4]])
    image = torch.full_like(tokens, -1)
    patches = torch.zeros(1, 6, 4)
    t = torch.zeros(1, 6)
    valid = torch.ones(1, 6, dtype=torch.bool)
    full, _ = run(model, Packed(tokens, patches, image, valid))
    cache = KVCache(len(model.layers))
    steps = []
    with torch.no_grad():
        for i in range(6):
            mask = torch.ones(1, 1, 1, i + 1, dtype=torch.bool)  # one query sees all cached keys
            logits, _ = model(
                tokens[:, i : i + 1],
                patches[:, i : i + 1],
                image[:, i : i + 1],
                t[:, i : i + 1],
                mask,
                torch.tensor([[i]]),
                cache,
            )
            steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def unet_model(vocab: int = 11, std: float = 0.2) -> MultimodalTransformer:
    """A 2 x 2-patch U-Net variant (4 x 4 x 3 images) with non-trivial random weights."""
    torch.manual_seed(0)
    shape = MultimodalShape(
        vocab=vocab,
        patch_dim=12,
        width=32,
        depth=2,
        heads=2,
        hidden=64,
        encoder="unet",
        channels=3,
        image_size=4,
        patch=2,
    )
    model = MultimodalTransformer(shape)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=std)
    return model.eval()


def test_unet_variant_keeps_the_mask_rules():
    # 2 x 2 patches of 2 x 2 x 3 per image: 4 patches; text BOI [4 patches] EOI text
    model = unet_model()
    image = torch.tensor([[-1, -1, 0, 0, 0, 0, -1, -1]])
    tokens = torch.tensor([[5, BOI, 0, 0, 0, 0, EOI, 7]])
    patches = (
        torch.randn(1, 8, 12, generator=torch.Generator().manual_seed(1)) * (image >= 0)[..., None]
    )
    batch = Packed(tokens, patches, image, torch.ones(1, 8, dtype=torch.bool))
    logits, pred = run(model, batch)
    assert pred.shape == (1, 8, 12) and torch.count_nonzero(pred[0, image[0] < 0]) == 0
    changed = Packed(tokens, patches.clone(), image, batch.valid)
    changed.patches[0, 5] += (
        1.0  # the last patch: reaches every patch of its image, not the text before
    )
    logits2, pred2 = run(model, changed)
    torch.testing.assert_close(logits2[0, :2], logits[0, :2])
    for i in range(2, 6):
        assert not torch.allclose(pred2[0, i], pred[0, i])


def test_unet_decoding_cached_equals_uncached():
    from tfusion.multimodal.decode import ImageSpec, MultimodalGenerator

    model = unet_model(vocab=261, std=0.1)
    gen = MultimodalGenerator(model, ImageSpec(3, 4, 2), Schedule.create("cosine", 1000), "eps")
    a = gen.text_to_image(["ab"], 2.0, "dpm++", 3, use_cache=True)
    b = gen.text_to_image(["ab"], 2.0, "dpm++", 3, use_cache=False)
    assert np.abs(a - b).max() < 2e-4
