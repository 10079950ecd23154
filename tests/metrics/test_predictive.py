"""Predictive scores (LPS published and fast, TimeGAN), train on synthetic and test on real: an
exact relation is learnt, noise-trained predictors are worse, the causal mask and the attention
blocks are real, the published LPS is the published network tested with dropout on, inputs are
checked.

Trained with lr 1e-2 and 300 steps of 64 windows (defaults: 1e-3, 5000 steps of 128) for speed.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

import tfusion.metrics.predictive as pred
from tfusion.data import sine_windows
from tfusion.errors import DataError
from tfusion.metrics.discriminative import EncoderLayer, predict
from tfusion.metrics.predictive import TransformerPredictor, lps, lps_fast, timegan_predictive

FAST = {"iterations": 300, "batch": 64, "lr": 1e-2}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lagged():
    """Sines (500, 24, 6) whose last feature is feature 0 one step earlier.

    The target x[t + 1, 5] = x[t, 0] is then an input at step t, visible to a causal predictor
    too; a target shifted by one step the wrong way would not be.
    """
    base = sine_windows(500, 25, 5, seed=1)
    return np.concatenate([base[:, 1:], base[:, :-1, :1]], axis=2)


@pytest.fixture(scope="module")
def constant_error(lagged):
    """MAE of the best constant prediction (the median target): what a predictor must beat."""
    target = lagged[:, 1:, -1]
    return float(np.abs(target - np.median(target)).mean())  # 0.135


@pytest.fixture(scope="module")
def trained(lagged):
    """Scores of predictors trained and tested on the same (real) windows."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    scores = {
        "lps": lps(lagged, lagged, **FAST),
        "lps_fast": lps_fast(lagged, lagged, **FAST),
        "lps_causal": lps_fast(lagged, lagged, causal=True, **FAST),
        "lps_wide": lps_fast(lagged, lagged, width=8, **FAST),
        "timegan": timegan_predictive(lagged, lagged, **FAST),
    }
    torch.set_num_threads(before)
    return scores


def test_exact_relation_is_learnt(trained, constant_error):
    # calibrated over seeds 0..2: published width 3 reaches 0.031-0.089 in 300 steps, width 8
    # and the GRU 0.011-0.019
    assert trained["lps"] < 0.7 * constant_error
    assert trained["lps_fast"] < 0.7 * constant_error
    assert trained["lps_causal"] < 0.7 * constant_error
    assert trained["lps_wide"] < 0.03
    assert trained["timegan"] < 0.03


SCORES = {"lps": lps, "lps_fast": lps_fast, "timegan": timegan_predictive}


@pytest.mark.parametrize("name", SCORES)
def test_train_on_real_beats_train_on_noise(lagged, trained, constant_error, name):
    noise = np.random.default_rng(0).uniform(size=lagged.shape)
    score = SCORES[name]
    noise_error = score(lagged, noise, **FAST)
    assert noise_error > constant_error  # it learnt noise's (absent) relation: worse than constant
    assert noise_error > 3 * trained[name]


def test_causal_version_differs(trained):
    assert trained["lps_causal"] != trained["lps_fast"]


@pytest.mark.parametrize("causal", [False, True])
def test_causal_mask_hides_the_future(causal):
    torch.manual_seed(0)
    layer = EncoderLayer(3, 10, 4, 4, 16, causal=causal).eval()
    x = torch.rand(2, 10, 3)
    y = x.clone()
    y[:, 6:] = torch.rand(2, 4, 3)  # change steps 6..9 only
    with torch.no_grad():
        same_past = torch.allclose(layer(x)[:, :6], layer(y)[:, :6], atol=1e-6)
    assert same_past == causal


@pytest.mark.parametrize("name", SCORES)
def test_same_seed_same_score_in_any_order(lagged, name):
    score = SCORES[name]
    synthetic = lagged[::-1] * 0.9 + 0.05  # any other set will do
    a = score(lagged, synthetic, iterations=30, batch=16, seed=3)
    rng = np.random.default_rng(0)
    b = score(lagged[rng.permutation(500)], synthetic[rng.permutation(500)], 30, 16, 3)
    c = score(lagged, synthetic, iterations=30, batch=16, seed=4)
    assert a == b
    assert a != c  # the seed matters, so the equality above is not vacuous


@pytest.mark.parametrize("score", [lps, lps_fast, timegan_predictive])
def test_bad_inputs_are_data_errors(score):
    with pytest.raises(DataError, match="at least 2 features"):
        score(np.zeros((10, 8, 1)), np.zeros((10, 8, 1)), iterations=1)
    with pytest.raises(DataError, match="at least 2 steps"):
        score(np.zeros((10, 1, 3)), np.zeros((10, 1, 3)), iterations=1)
    with pytest.raises(DataError, match="NaN"):
        score(np.zeros((10, 8, 3)), np.full((10, 8, 3), np.nan), iterations=1)


def test_three_features_give_a_one_wide_predictor_that_trains():
    # C = 3 -> width max(1, 3 // 2) = 1: its position table was empty (0 columns) and lps
    # failed with a shape error; the published code uses the first column of the 2-wide table
    rng = np.random.default_rng(0)
    real, synthetic = rng.random((40, 12, 3)), rng.random((40, 12, 3))
    for score in (lps(real, synthetic, iterations=20), lps_fast(real, synthetic, iterations=20)):
        assert 0.0 < score < 1.0


class _PublishedLayout(nn.Module):
    """TransFusion's LPS predictor laid out as its scoring code lays it out (odd widths take the
    first D columns of the D + 1 position table), written here independently of tfusion's."""

    def __init__(self, inputs: int, width: int, length: int) -> None:
        super().__init__()
        self.projection = nn.Linear(inputs, width)
        even = width + width % 2
        table = torch.zeros(length, even)
        position = torch.arange(length).unsqueeze(1)
        freq = torch.exp(torch.arange(0, even, 2) * (-math.log(10000.0) / even))
        table[:, 0::2], table[:, 1::2] = torch.sin(position * freq), torch.cos(position * freq)
        self.register_buffer("pe", table[:, None, :width])  # (L, 1, D)
        self.transformer_encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d_model=width, nhead=width),
            num_layers=1,
            enable_nested_tensor=False,
        )
        self.fc = nn.Linear(width, 1)

    def forward(self, x):
        h = self.projection(x).permute(1, 0, 2) + self.pe
        h = self.transformer_encoder(h).permute(1, 0, 2)
        return torch.sigmoid(self.fc(h)).squeeze(-1)


@pytest.mark.parametrize("features", [6, 7])  # D = 3 (odd: the sliced table)
def test_published_predictor_is_the_published_network(features):
    torch.manual_seed(2)
    ours = TransformerPredictor(features - 1, 23, 3, 3, published=True)
    torch.manual_seed(2)
    theirs = _PublishedLayout(features - 1, 3, 23)
    a, b = list(ours.parameters()), list(theirs.parameters())
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    # projection, attention in + out, feed-forward 2048 in + out, two norms, head
    expected = (3 * (features - 1) + 3) + (36 + 12) + (8192 + 6147) + 12 + 4
    assert sum(p.numel() for p in a) == expected
    x = torch.rand(4, 23, features - 1)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-6)


@pytest.mark.parametrize(("score", "dropout"), [(lps, True), (lps_fast, False)])
def test_published_lps_tests_with_dropout_and_the_fast_one_without(monkeypatch, score, dropout):
    seen = []

    def spy(model, x, chunk=256, dropout=False):
        seen.append(dropout)
        return predict(model, x, chunk, dropout)

    monkeypatch.setattr(pred, "predict", spy)
    rng = np.random.default_rng(0)
    score(rng.random((10, 8, 4)), rng.random((10, 8, 4)), iterations=2, batch=4)
    assert seen == [dropout]


def test_attention_blocks_are_local():
    torch.manual_seed(0)
    layer = EncoderLayer(3, 10, 4, 2, 16, dropout=0.0, block=4).eval()  # blocks 0-3, 4-7, 6-9
    full = EncoderLayer(3, 10, 4, 2, 16, dropout=0.0).eval()
    full.load_state_dict(layer.state_dict())
    x = torch.rand(2, 10, 3)
    y = x.clone()
    y[:, 9] += 1.0  # a step of the last block only
    with torch.no_grad():
        changed = (layer(y) - layer(x)).abs().amax(dim=(0, 2))
        changed_full = (full(y) - full(x)).abs().amax(dim=(0, 2))
        # one block holding every step is plain attention
        whole = EncoderLayer(3, 10, 4, 2, 16, dropout=0.0, block=10).eval()
        whole.load_state_dict(layer.state_dict())
        assert torch.allclose(whole(x), full(x), atol=1e-6)
    assert bool((changed[:8] < 1e-6).all())  # steps 0-7 come from the first two blocks
    assert bool((changed[8:] > 1e-4).all())
    assert bool((changed_full > 1e-4).all())
