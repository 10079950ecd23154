"""Discriminative scores (LDS, TimeGAN): near 0 for one distribution, near 0.5 for noise, and a
function of the window sets and the seed only.

The scores are trained with lr 1e-2 and 300 steps of 64 + 64 windows here (the defaults are 1e-3
and 2000 steps of 128 + 128) so each run takes seconds; the properties tested do not depend on it.
"""

import numpy as np
import pytest
import torch

from tfusion.data import sine_windows
from tfusion.errors import DataError
from tfusion.metrics.discriminative import canonical, lds, timegan_discriminative

FAST = {"iterations": 300, "batch": 64, "lr": 1e-2}
SCORES = {"lds": lds, "timegan": timegan_discriminative}


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
    scores = {name: score(*sines, seed=0, **FAST) for name, score in SCORES.items()}
    torch.set_num_threads(before)
    return scores


@pytest.mark.parametrize("name", SCORES)
def test_one_distribution_scores_near_zero(same_scores, name):
    # calibrated over seeds 0..4: at most 0.042 (LDS) and 0.023 (GRU); the accuracy on 400 test
    # windows of an uninformed classifier has a standard deviation of 0.025
    assert 0.0 <= same_scores[name] < 0.1


@pytest.mark.parametrize("name", SCORES)
def test_noise_scores_near_half(sines, name):
    real = sines[0]
    noise = np.random.default_rng(0).uniform(size=real.shape)  # in [0, 1] like the real windows
    assert SCORES[name](real, noise, seed=0, **FAST) > 0.45


@pytest.mark.parametrize("name", SCORES)
def test_same_seed_same_score_in_any_order(sines, same_scores, name):
    real, synthetic = sines
    rng = np.random.default_rng(7)
    shuffled = SCORES[name](
        real[rng.permutation(len(real))], synthetic[rng.permutation(len(synthetic))], seed=0, **FAST
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
