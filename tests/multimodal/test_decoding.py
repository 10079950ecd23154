"""Transfusion decoding: cached equals uncached, a batch equals its rows one by one."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tfusion.data.shapes import make_shapes
from tfusion.diffusion import Schedule
from tfusion.errors import ConfigError
from tfusion.multimodal.decode import ImageSpec, MultimodalGenerator
from tfusion.multimodal.model import MultimodalShape, MultimodalTransformer
from tfusion.multimodal.sampling import sample_token
from tfusion.nn.patchify import patchify, unpatchify

SPEC = ImageSpec(channels=3, size=16, patch=4)


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    model = MultimodalTransformer(
        MultimodalShape(vocab=261, patch_dim=SPEC.patch_dim, width=32, depth=2, heads=2, hidden=64)
    )
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return MultimodalGenerator(model, SPEC, Schedule.create("cosine", 1000), "eps")


def test_patchify_round_trip():
    x = np.random.default_rng(0).normal(size=(2, 3, 16, 16))
    p = patchify(x, 4)
    assert p.shape == (2, 16, 48)
    np.testing.assert_array_equal(p[0, 1], x[0, :, 0:4, 4:8].transpose(1, 2, 0).reshape(-1))
    np.testing.assert_array_equal(unpatchify(p, 4, 16, 16), x)


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_cached_image_equals_uncached(gen, guidance):
    kw = dict(guidance=guidance, sampler="dpm++", steps=4, seed=1)
    a = gen.text_to_image(["a red circle on the left"], use_cache=True, **kw)
    b = gen.text_to_image(["a red circle on the left"], use_cache=False, **kw)
    assert a.shape == (1, 3, 16, 16)
    np.testing.assert_allclose(a, b, atol=2e-4)


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_a_causal_image_model_draws_the_same_with_and_without_the_cache(guidance):
    """A model trained with causal attention inside images (the paper's ablation) draws with
    that attention on the cached path too, not with the bidirectional one."""
    torch.manual_seed(0)
    shape = MultimodalShape(
        vocab=261, patch_dim=SPEC.patch_dim, width=32, depth=2, heads=2, hidden=64,
        image_attention="causal",
    )  # fmt: skip
    model = MultimodalTransformer(shape)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    g = MultimodalGenerator(model, SPEC, Schedule.create("cosine", 1000), "eps")
    kw = dict(guidance=guidance, sampler="ddim", steps=3, seed=2)
    a = g.text_to_image(["ab"], use_cache=True, **kw)
    b = g.text_to_image(["ab"], use_cache=False, **kw)
    np.testing.assert_allclose(a, b, atol=2e-4)


def test_cached_caption_equals_uncached(gen):
    images, _, _ = make_shapes(2, size=16, seed=0)
    a = gen.caption(images, max_tokens=12, use_cache=True)
    b = gen.caption(images, max_tokens=12, use_cache=False)
    assert a == b and all(len(s) > 0 for s in a)


def test_a_batch_equals_its_rows_one_by_one(gen):
    captions = ["a red circle on the left", "a blue square above a green triangle", "x"]
    kw = dict(guidance=2.0, sampler="dpm++", steps=3, seed=5)
    batch = gen.text_to_image(captions, **kw)
    for i, c in enumerate(captions):
        alone = gen.text_to_image([c], **{**kw, "seed": 5 + i})
        np.testing.assert_allclose(batch[i], alone[0], atol=2e-4)
    images, _, _ = make_shapes(3, size=16, seed=1)
    together = gen.caption(images, max_tokens=8)
    assert together == [gen.caption(images[i : i + 1], max_tokens=8)[0] for i in range(3)]
    # sampled text too: row i draws from seed + i whatever the rest of the batch
    kw = dict(max_tokens=8, temperature=1.5)
    drawn = gen.caption(images, seed=7, **kw)
    assert drawn == [gen.caption(images[i : i + 1], seed=7 + i, **kw)[0] for i in range(3)]
    assert drawn != together  # the sampled captions are not the greedy ones


def test_sample_token_rules():
    logits = torch.tensor([[0.0, 2.0, 1.0, -1.0]])
    g = torch.Generator().manual_seed(0)
    assert sample_token(logits, 0.0, None, None, g).item() == 1
    assert sample_token(logits, 1.0, 1, None, g).item() == 1  # top-k 1 is greedy
    assert sample_token(logits, 1.0, None, 1e-6, g).item() == 1  # nucleus of one token
    draws = torch.stack([sample_token(logits, 1.0, None, None, g) for _ in range(4000)])
    freq = torch.bincount(draws.view(-1), minlength=4).float() / 4000
    torch.testing.assert_close(freq, logits.softmax(-1)[0], atol=0.03, rtol=0)
    top2 = torch.stack([sample_token(logits, 1.0, 2, None, g) for _ in range(500)])
    assert set(top2.view(-1).tolist()) <= {1, 2}
    tied = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # top-k keeps exactly k tokens under ties
    assert len({sample_token(tied, 1.0, 1, None, g).item() for _ in range(200)}) == 1


@pytest.mark.parametrize(
    "settings, word",
    [((-1.0, None, None), "temperature"), ((1.0, 0, None), "top_k"), ((1.0, None, 0.0), "top_p")],
)
def test_sampling_settings_out_of_range_are_one_line_errors(gen, settings, word):
    with pytest.raises(ConfigError, match=word):
        sample_token(torch.zeros(1, 4), *settings, torch.Generator())
    images, _, _ = make_shapes(1, size=16, seed=0)
    temperature, top_k, top_p = settings
    with pytest.raises(ConfigError, match=word):  # checked before any forward pass
        gen.caption(images, max_tokens=2, temperature=temperature, top_k=top_k, top_p=top_p)


def biased(gen, token: int, bias: float) -> MultimodalGenerator:
    """The same model with a constant added to one token's logit (to force or forbid it)."""
    model = copy.deepcopy(gen.model)
    head = torch.nn.Linear(model.lm_head.in_features, model.lm_head.out_features)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[token] = bias
    model.lm_head = head
    return MultimodalGenerator(model, SPEC, gen.schedule, gen.prediction)


IMG = dict(guidance=2.0, sampler="dpm++", steps=3, seed=4)


def test_an_emitted_boi_draws_an_image_then_decoding_goes_on(gen):
    g = biased(gen, gen.tok.BOI, 50.0)  # the model always asks for an image
    out = g.generate("a red circle", max_tokens=8, max_images=2, **IMG)
    assert len(out) == 2 and all(isinstance(x, np.ndarray) for x in out)
    assert all(x.shape == (3, 16, 16) and np.abs(x).max() <= 1.0 for x in out)
    assert not np.allclose(out[0], out[1])  # each image its own noise
    slow = g.generate("a red circle", max_tokens=8, max_images=2, use_cache=False, **IMG)
    for a, b in zip(out, slow, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-4)


def test_text_only_and_forced_image_modes(gen):
    g = biased(gen, gen.tok.BOI, -50.0)  # never an image unless forced
    text = g.generate("a blue", max_tokens=10, **IMG)
    assert len(text) == 1 and isinstance(text[0], str) and 0 < len(text[0]) <= 10
    assert text == g.generate("a blue", max_tokens=10, use_cache=False, **IMG)
    forced = g.generate("a blue square", max_tokens=6, force_image=True, **IMG)
    assert isinstance(forced[0], np.ndarray) and forced[0].shape == (3, 16, 16)
    assert all(isinstance(x, str) for x in forced[1:])
    # the forced image is the text -> image path's image for the same prompt and noise
    direct = g.text_to_image(["a blue square"], **IMG)[0]
    np.testing.assert_allclose(forced[0], direct, atol=2e-4)
    slow = g.generate("a blue square", max_tokens=6, force_image=True, use_cache=False, **IMG)
    np.testing.assert_allclose(forced[0], slow[0], atol=2e-4)
    assert forced[1:] == slow[1:]


def test_text_never_holds_pad_bos_or_eoi_even_when_the_model_favours_them(gen):
    images, _, _ = make_shapes(1, size=16, seed=0)
    plain = gen.caption(images, max_tokens=6)
    for token in (gen.tok.PAD, gen.tok.BOS, gen.tok.EOI):
        g = biased(gen, token, 50.0)
        # the next best token each time: the caption the unbiased model writes
        assert g.caption(images, max_tokens=6) == plain
        assert g.caption(images, max_tokens=6, use_cache=False) == plain


def test_decoding_n_tokens_costs_one_prefill_and_n_minus_one_extensions(gen, monkeypatch):
    g = biased(gen, gen.tok.EOS, -50.0)  # never stops early
    calls = []
    real = MultimodalGenerator._forward
    monkeypatch.setattr(
        MultimodalGenerator, "_forward", lambda self, *a: calls.append(1) or real(self, *a)
    )
    prefix = [[g.tok.BOS], g.tok.encode("a red circle")]
    ids = g._decode([prefix], 5, 0.0, None, None, 0, True)
    assert len(ids[0]) == 5 and len(calls) == 5
