"""The full suite: repeats give mean ± CI, one seed reproduces everything, baselines rank."""

import math
from dataclasses import replace

import numpy as np
import pytest

from tfusion.data import sine_windows
from tfusion.errors import ConfigError
from tfusion.metrics.suite import SuiteConfig, score_suite

FAST = SuiteConfig(
    metrics=("lds", "discriminative", "correlational", "context_fid", "prdc", "memorisation"),
    repeats=2,
    lds_iterations=60,
    discriminative_iterations=60,
    fid_iterations=20,
)


@pytest.fixture(scope="module")
def data():
    real = sine_windows(300, 16, 3, seed=0)
    other = sine_windows(300, 16, 3, seed=1)
    noise = np.random.default_rng(0).uniform(size=real.shape)
    return real, other, noise


def test_suite_reports_mean_ci_and_is_reproducible(data):
    real, other, _ = data
    a = score_suite(real, other, FAST, train=real[:150])
    b = score_suite(real, other, FAST, train=real[:150])
    for key in ("lds", "discriminative", "context_fid"):
        assert len(a[key]["values"]) == 2
        assert a[key]["values"] == b[key]["values"]  # one seed fixes every repeat
        assert math.isfinite(a[key]["ci95"])
    assert math.isnan(a["correlational"]["ci95"])  # deterministic: one value
    assert set(a["prdc"]) == {"precision", "recall", "density", "coverage"}
    assert a["memorisation"]["copies_training_data"] is False


def test_noise_scores_worse_than_real_on_every_metric(data):
    real, other, noise = data
    good = score_suite(real, other, FAST)
    bad = score_suite(real, noise, FAST)
    for key in ("lds", "discriminative", "correlational", "context_fid"):
        assert bad[key]["mean"] > good[key]["mean"], key
    assert bad["prdc"]["precision"] < good["prdc"]["precision"]


def test_suite_config_is_checked():
    with pytest.raises(ConfigError, match="unknown metric"):
        SuiteConfig(metrics=("fid",))
    with pytest.raises(ConfigError, match="repeats"):
        SuiteConfig(repeats=0)
    quick = SuiteConfig().scaled(0.1)
    assert quick.lps_iterations == 500 and quick.lds_iterations == 200


def test_native_units_skip_the_min_max_step(data):
    from tfusion.metrics.distribution import normalise
    from tfusion.metrics.predictive import timegan_predictive

    real, other, _ = data  # sines: values (sin + 1) / 2 fill only part of [0, 1]
    cfg = SuiteConfig(metrics=("predictive",), repeats=1, predictive_iterations=30)
    native = score_suite(real, other, replace(cfg, normalise=False))["predictive"]["mean"]
    rescaled = score_suite(real, other, cfg)["predictive"]["mean"]
    assert native == pytest.approx(timegan_predictive(real, other, 30, seed=0), rel=1e-9)
    assert rescaled == pytest.approx(timegan_predictive(*normalise(real, other), 30, seed=0))
    assert native != pytest.approx(rescaled, rel=0.05)


def test_long_repeats_apply_to_lds_and_lps_only(data):
    real, other, _ = data
    cfg = replace(FAST, metrics=("lds", "discriminative"), repeats=3, long_repeats=1)
    out = score_suite(real, other, cfg)
    assert len(out["lds"]["values"]) == 1 and math.isnan(out["lds"]["ci95"])
    assert len(out["discriminative"]["values"]) == 3
    with pytest.raises(ConfigError, match="long_repeats"):
        SuiteConfig(long_repeats=0)


def test_a_shared_encoder_cache_gives_the_same_fid_and_trains_once_per_real_set(data, monkeypatch):
    import tfusion.metrics.suite as suite

    real, other, noise = data
    cfg = replace(FAST, metrics=("context_fid",), repeats=2)
    alone = [score_suite(real, s, cfg)["context_fid"]["values"] for s in (other, noise)]
    trained = []
    original = suite.train_encoder
    monkeypatch.setattr(
        suite, "train_encoder", lambda x, **kw: trained.append(1) or original(x, **kw)
    )
    cache: dict = {}
    shared = [
        score_suite(real, s, cfg, encoders=cache)["context_fid"]["values"] for s in (other, noise)
    ]
    assert shared == alone  # same encoders, same scores
    assert len(trained) == 2  # one per seed, not one per seed and synthetic set
    score_suite(other, noise, cfg, encoders=cache)  # another real set gets its own encoders
    assert len(trained) == 4
