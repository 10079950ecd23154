"""The full suite: repeats give mean ± CI, one seed reproduces everything, baselines rank,
worker processes give the scores of one process."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

import tfusion.metrics.suite as suite_module
from tfusion.data import sine_windows
from tfusion.errors import ConfigError
from tfusion.metrics.suite import DEFAULT_METRICS, LABELS, SuiteConfig, score_suite

FAST = SuiteConfig(
    metrics=("lds-fast", "discriminative", "correlational", "context_fid", "prdc", "memorisation"),
    repeats=2,
    lds_iterations=60,
    discriminative_iterations=60,
    fid_iterations=20,
    workers=1,
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
    for key in ("lds-fast", "discriminative", "context_fid"):
        assert len(a[key]["values"]) == 2
        assert a[key]["values"] == b[key]["values"]  # one seed fixes every repeat
        assert math.isfinite(a[key]["ci95"])
    # Diffusion-TS's protocol: 5 draws of n / 5 windows each side, seeded; the whole sets beside
    corr = a["correlational"]
    assert len(corr["values"]) == 5 and corr["values"] == b["correlational"]["values"]
    assert math.isfinite(corr["ci95"]) and corr["mean"] > corr["whole_sets"] >= 0
    assert set(a["prdc"]) == {"precision", "recall", "density", "coverage"}
    assert a["memorisation"]["copies_training_data"] is False


def test_noise_scores_worse_than_real_on_every_metric(data):
    real, other, noise = data
    good = score_suite(real, other, FAST)
    bad = score_suite(real, noise, FAST)
    for key in ("lds-fast", "discriminative", "correlational", "context_fid"):
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
    cfg = replace(FAST, metrics=("lds-fast", "discriminative"), repeats=3, long_repeats=1)
    out = score_suite(real, other, cfg)
    assert len(out["lds-fast"]["values"]) == 1 and math.isnan(out["lds-fast"]["ci95"])
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


def test_the_default_suite_scores_the_fast_variants_and_names_each_variant():
    assert "lds-fast" in DEFAULT_METRICS and "lps-fast" in DEFAULT_METRICS
    assert "lds" not in DEFAULT_METRICS and "lps" not in DEFAULT_METRICS  # hours at L = 384
    assert SuiteConfig().metrics == DEFAULT_METRICS
    assert "published" in LABELS["lds"] and "published" in LABELS["lps"]
    assert "fast" in LABELS["lds-fast"] and "fast" in LABELS["lps-fast"]


def test_the_published_variants_run_in_the_suite(data, monkeypatch):
    calls = []

    def spy(name):
        def probe(r, s, iterations, seed=0, device=None):
            calls.append((name, iterations, seed))
            return 0.25

        return probe

    for name in ("lds", "lps", "lds_fast", "lps_fast"):
        monkeypatch.setattr(suite_module, name, spy(name))
    real, other, _ = data
    cfg = SuiteConfig(
        metrics=("lds", "lps", "lds-fast"), repeats=2, lds_iterations=7, lps_iterations=9, workers=1
    )
    out = score_suite(real, other, cfg)
    assert sorted(calls) == [
        ("lds", 7, 0),
        ("lds", 7, 1),
        ("lds_fast", 7, 0),
        ("lds_fast", 7, 1),
        ("lps", 9, 0),
        ("lps", 9, 1),
    ]
    assert out["lds"]["values"] == [0.25, 0.25] and "lps-fast" not in out


def test_workers_give_the_scores_of_one_process(data, monkeypatch):
    real, other, _ = data
    monkeypatch.setattr(suite_module, "cpu_cores", lambda: 2)  # 1 thread per worker anywhere
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = replace(FAST, metrics=("lds-fast", "discriminative", "context_fid", "prdc"))
        one = score_suite(real, other, cfg)
        cache: dict = {}
        two = score_suite(real, other, replace(cfg, workers=2), encoders=cache)
    finally:
        torch.set_num_threads(before)
    assert one["workers"] == 1 and two["workers"] == 2
    for key in ("lds-fast", "discriminative", "context_fid"):
        assert two[key]["values"] == pytest.approx(one[key]["values"], rel=1e-6), key
    assert two["prdc"] == pytest.approx(one["prdc"])
    assert len(cache) == 2  # the encoders trained in the workers come back for reuse
    with pytest.raises(ConfigError, match="workers"):
        SuiteConfig(workers=0)


def test_memorisation_in_native_units_finds_copies(data):
    real, _, _ = data
    train = 0.5 + 0.25 * real[:100]  # native units, not [0, 1]
    native = replace(FAST, metrics=("memorisation",), normalise=False)
    out = score_suite(0.5 + 0.25 * real[100:], train[:60].copy(), native, train=train)
    assert out["memorisation"]["copies_training_data"] is True  # was False: mixed units
