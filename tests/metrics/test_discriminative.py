"""Discriminative scores (LDS published and fast, TimeGAN): near 0 for one distribution, near 0.5
for noise, and a function of the window sets and the seed only; the published LDS is the
published network, tested with dropout on.

The scores are trained with lr 1e-2 and 300 steps of 64 + 64 windows here (the defaults are 1e-3
and 2000 steps of 128 + 128) so each run takes seconds; the properties tested do not depend on it.
The published LDS (a 2048-wide feed-forward for every step) gets 100 steps of 32 + 32.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

import tfusion.metrics.discriminative as disc
from tfusion.data import sine_windows
from tfusion.errors import DataError
from tfusion.metrics.discriminative import (
    EncoderLayer,
    TransformerClassifier,
    canonical,
    lds,
    lds_fast,
    predict,
    timegan_discriminative,
)
from tfusion.nn import position_table

FAST = {"iterations": 300, "batch": 64, "lr": 1e-2}
PUBLISHED_FAST = {"iterations": 100, "batch": 32, "lr": 1e-2}


def _published(real, synthetic, **kw):
    return lds(real, synthetic, **{**PUBLISHED_FAST, **kw})


def _fast(real, synthetic, **kw):
    return lds_fast(real, synthetic, **{**FAST, **kw})


def _timegan(real, synthetic, **kw):
    return timegan_discriminative(real, synthetic, **{**FAST, **kw})


SCORES = {"lds": _published, "lds_fast": _fast, "timegan": _timegan}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sines():
    # two independent samples of one distribution; 1000 windows each leave 200 + 200 for testing
    return sine_windows(1000, 24, 4, seed=1), sine_windows(1000, 24, 4, seed=2)


@pytest.fixture(scope="module")
def same_scores(sines):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    scores = {name: score(*sines, seed=0) for name, score in SCORES.items()}
    torch.set_num_threads(before)
    return scores


@pytest.mark.parametrize("name", SCORES)
def test_one_distribution_scores_near_zero(same_scores, name):
    # calibrated over seeds 0..4: at most 0.042 (fast LDS) and 0.023 (GRU); the accuracy on 400
    # test windows of an uninformed classifier has a standard deviation of 0.025
    assert 0.0 <= same_scores[name] < 0.1


@pytest.mark.parametrize("name", SCORES)
def test_noise_scores_near_half(sines, name):
    real = sines[0]
    noise = np.random.default_rng(0).uniform(size=real.shape)  # in [0, 1] like the real windows
    assert SCORES[name](real, noise, seed=0) > 0.45


@pytest.mark.parametrize("name", SCORES)
def test_same_seed_same_score_in_any_order(sines, same_scores, name):
    real, synthetic = sines
    rng = np.random.default_rng(7)
    shuffled = SCORES[name](
        real[rng.permutation(len(real))], synthetic[rng.permutation(len(synthetic))], seed=0
    )
    assert shuffled == same_scores[name]


def test_canonical_order_ignores_input_order():
    x = np.random.default_rng(0).uniform(size=(50, 6, 2))
    perm = np.random.default_rng(1).permutation(50)
    assert torch.equal(canonical(x[perm]), canonical(x))
    assert not torch.equal(torch.from_numpy(x[perm]).float(), canonical(x))


def test_caller_random_state_and_threads_untouched(sines):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    torch.set_num_threads(2)  # the GRU score runs on one thread and must give the 2 back
    lds(sines[0][:20], sines[1][:20], iterations=2, batch=4)
    lds_fast(sines[0][:20], sines[1][:20], iterations=2, batch=4)
    timegan_discriminative(sines[0][:20], sines[1][:20], iterations=2, batch=4)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("name", SCORES)
def test_too_few_windows_is_a_data_error(sines, name):
    real, synthetic = sines
    with pytest.raises(DataError, match="too few windows for an 80/20 split"):
        SCORES[name](real[:4], synthetic, iterations=1)
    with pytest.raises(DataError, match="too few windows"):
        SCORES[name](real, synthetic[:4], iterations=1)


def test_mismatched_shapes_are_a_data_error(sines):
    real, synthetic = sines
    with pytest.raises(DataError, match="same window length"):
        lds(real, synthetic[:, :12], iterations=1)


class _PublishedLayout(nn.Module):
    """TransFusion's LDS classifier laid out as its scoring code lays it out (sequence-first
    `nn.TransformerEncoder` of one default `nn.TransformerEncoderLayer`, modules created in its
    order), written here independently of tfusion's class."""

    def __init__(self, features: int, length: int) -> None:
        super().__init__()
        self.projection = nn.Linear(features, 8)
        table = torch.zeros(length, 8)
        position = torch.arange(length).unsqueeze(1)
        freq = torch.exp(torch.arange(0, 8, 2) * (-math.log(10000.0) / 8))
        table[:, 0::2], table[:, 1::2] = torch.sin(position * freq), torch.cos(position * freq)
        self.register_buffer("pe", table.unsqueeze(1))  # (L, 1, 8)
        self.transformer_encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d_model=8, nhead=8), num_layers=1, enable_nested_tensor=False
        )
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        h = self.projection(x).permute(1, 0, 2) + self.pe  # (L, B, 8)
        h = self.transformer_encoder(h).permute(1, 0, 2).mean(dim=1)
        return self.fc(h).squeeze(-1)


def test_published_classifier_is_the_published_network():
    torch.manual_seed(5)
    ours = TransformerClassifier(7, 24, 8, 8, published=True)
    torch.manual_seed(5)
    theirs = _PublishedLayout(7, 24)
    a = [p.detach() for p in ours.parameters()]
    b = [p.detach() for p in theirs.parameters()]
    # 64 + 288 (attention) + 18 432 + 16 392 (feed-forward 2048) + 32 (norms) + 9 (head)
    assert sum(p.numel() for p in a) == sum(p.numel() for p in b) == 35217
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))  # same initial weights
    assert torch.allclose(position_table(24, 8), theirs.pe[:, 0])
    x = torch.rand(5, 24, 7)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-6)
    ours.train()
    drops = [m.p for m in ours.modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.1, 0.1, 0.1]  # after the attention, in and after the feed-forward
    assert ours.encoder.layer.self_attn.dropout == 0.1  # and on the attention weights


def test_predict_with_dropout_is_the_published_test_mode():
    torch.manual_seed(0)
    model = TransformerClassifier(3, 12, 8, 8, published=True)
    x = torch.rand(20, 12, 3)
    assert torch.equal(predict(model, x), predict(model, x))  # eval mode: deterministic
    assert not torch.equal(predict(model, x, dropout=True), predict(model, x, dropout=True))


@pytest.mark.parametrize(("score", "dropout"), [(lds, True), (lds_fast, False)])
def test_published_lds_tests_with_dropout_and_the_fast_one_without(monkeypatch, score, dropout):
    seen = []

    def spy(model, x, chunk=256, dropout=False):
        seen.append(dropout)
        return predict(model, x, chunk, dropout)

    monkeypatch.setattr(disc, "predict", spy)
    rng = np.random.default_rng(0)
    score(rng.random((20, 6, 2)), rng.random((20, 6, 2)), iterations=2, batch=4)
    assert seen == [dropout, dropout]


def test_patches_make_fewer_tokens_and_see_every_step():
    torch.manual_seed(0)
    layer = EncoderLayer(3, 10, 8, 2, 16, dropout=0.0, patch=4).eval()  # 10 steps -> 3 tokens
    x = torch.rand(2, 10, 3)
    with torch.no_grad():
        out = layer(x)
        y = x.clone()
        y[:, 9] += 1.0  # the last step, alone in the zero-padded last patch
        changed = (layer(y) - out).abs().amax(dim=(0, 2))
    assert out.shape == (2, 3, 8)
    assert bool((changed > 1e-4).all())  # through attention every token sees it


def test_fast_lds_patches_long_windows_only(monkeypatch):
    tokens = []
    original = disc.TransformerClassifier

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        tokens.append(model.encoder.pos.shape[0])
        # the table at a tenth of its amplitude (the published amplitude stalls training)
        width = model.encoder.pos.shape[1]
        assert torch.allclose(model.encoder.pos, 0.1 * position_table(tokens[-1], width))
        return model

    monkeypatch.setattr(disc, "TransformerClassifier", spy)
    rng = np.random.default_rng(0)
    for length in (24, 64, 100, 384):
        lds_fast(rng.random((10, length, 2)), rng.random((10, length, 2)), 1, 4)
    assert tokens == [24, 64, 50, 64]  # patches of 1, 1, 2 and 6 steps
