"""Metric probes take a device: the CPU spelled any way gives the very score of the default path,
a missing device is a one-line error, and on CUDA the probes still score (issue 23)."""

import numpy as np
import pytest
import torch

from tfusion.data import sine_windows
from tfusion.errors import ConfigError
from tfusion.metrics import fid
from tfusion.metrics.discriminative import (
    bce_first_real,
    bce_real_plus_synthetic,
    lds,
    lds_fast,
    seeded,
    timegan_discriminative,
)
from tfusion.metrics.fid import context_fid, embed_windows, train_encoder
from tfusion.metrics.images import train_scorer
from tfusion.metrics.predictive import lps, lps_fast, timegan_predictive
from tfusion.metrics.suite import SuiteConfig, score_suite

CPU_SPELLINGS = ["cpu", torch.device("cpu")]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pair():
    return sine_windows(40, 10, 4, seed=1), sine_windows(40, 10, 4, seed=2)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1, 8, 8)).astype(np.float32)
    x[:, 0, :4] += rng.integers(0, 3, 40)[:, None, None]  # something learnable
    return x, rng.integers(0, 3, 40)


@pytest.fixture
def quick_frechet(monkeypatch):
    """A cheap stand-in for the Fréchet distance of 320-d Gaussians (scipy's sqrtm takes seconds
    here): still a function of both sets' embedding means and covariances."""

    def distance(mu1, cov1, mu2, cov2):
        return float(((mu1 - mu2) ** 2).sum() + np.abs(cov1 - cov2).sum())

    monkeypatch.setattr(fid, "frechet_distance", distance)


FAST = {"iterations": 15, "batch": 16, "seed": 3, "lr": 1e-2}
PROBES = {
    "lds": lambda r, s, **kw: lds(r, s, **FAST, **kw),
    "lps": lambda r, s, **kw: lps(r, s, **FAST, **kw),
    "lds_fast": lambda r, s, **kw: lds_fast(r, s, **FAST, **kw),
    "lps_fast": lambda r, s, **kw: lps_fast(r, s, **FAST, **kw),
    "lps_causal": lambda r, s, **kw: lps_fast(r, s, causal=True, **FAST, **kw),
    # the small GRU needs a few more steps to leave 0 on these windows
    "timegan_discriminative": lambda r, s, **kw: timegan_discriminative(
        r, s, **{**FAST, "iterations": 40, "lr": 3e-2}, **kw
    ),
    "timegan_predictive": lambda r, s, **kw: timegan_predictive(r, s, **FAST, **kw),
    "context_fid": lambda r, s, **kw: context_fid(r, s, seed=3, iterations=6, **kw),
}


@pytest.mark.parametrize("name", PROBES)
def test_cpu_in_any_spelling_is_the_default_score_bit_for_bit(pair, name, quick_frechet):
    probe = PROBES[name]
    default = probe(*pair)  # the call as it was before probes took a device
    assert isinstance(default, float) and np.isfinite(default)
    for device in CPU_SPELLINGS:
        assert probe(*pair, device=device) == default, device
    # the score depends on the data, so equal scores above are not a constant
    assert probe(pair[0], np.random.default_rng(0).uniform(size=pair[0].shape)) != default


def test_embeddings_on_the_cpu_match_the_default_bit_for_bit(pair):
    base = embed_windows(train_encoder(pair[0], seed=1, iterations=4), pair[1])
    enc = train_encoder(pair[0], seed=1, iterations=4, device=torch.device("cpu"))
    assert next(enc.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(embed_windows(enc, pair[1], device="cpu"), base)
    assert isinstance(base, np.ndarray) and base.dtype == np.float64


def test_image_scorer_on_the_cpu_matches_the_default_bit_for_bit(images):
    x, y = images

    def train(**kw):
        return train_scorer(x[:30], y[:30], x[30:], y[30:], 3, epochs=2, batch=8, min_steps=8, **kw)

    base = train()
    feats, preds = base.features(x), base.predict(x)
    for device in CPU_SPELLINGS:
        scorer = train(device=device)
        assert scorer.device == torch.device("cpu")
        assert scorer.test_accuracy == base.test_accuracy
        np.testing.assert_array_equal(scorer.features(x), feats)
        np.testing.assert_array_equal(scorer.predict(x), preds)
    assert isinstance(feats, np.ndarray) and isinstance(preds, np.ndarray)


def test_suite_passes_its_device_to_the_probes(pair, quick_frechet):
    cfg = SuiteConfig(
        metrics=("discriminative", "lds-fast", "context_fid"),
        repeats=1,
        discriminative_iterations=10,
        lds_iterations=10,
        fid_iterations=4,
        workers=1,  # quick_frechet patches this process
    )
    base = score_suite(*pair, cfg)
    on_cpu = SuiteConfig(**{**cfg.__dict__, "device": torch.device("cpu")})
    assert on_cpu.device == "cpu"  # kept as its name: the config stays plain data
    again = score_suite(*pair, on_cpu)
    for key in cfg.metrics:
        assert again[key]["values"] == base[key]["values"], key


def test_mask_free_loss_is_the_masked_loss_bit_for_bit():
    # LDS's training loss slices the real windows off the front instead of masking them
    torch.manual_seed(0)
    logits = torch.randn(11, requires_grad=True)
    labels = torch.cat([torch.ones(6), torch.zeros(5)])
    a = bce_real_plus_synthetic(logits, labels)
    (ga,) = torch.autograd.grad(a, logits)
    b = bce_first_real(6)(logits, labels)
    (gb,) = torch.autograd.grad(b, logits)
    assert torch.equal(a, b) and torch.equal(ga, gb)
    assert not torch.equal(bce_first_real(5)(logits, labels), a)  # the split matters


def test_seeded_on_the_cpu_leaves_the_callers_generator_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    with seeded(7, torch.device("cpu")):
        inside = torch.rand(3)
    with seeded(7):
        assert torch.equal(torch.rand(3), inside)
    assert torch.equal(torch.get_rng_state(), state)


@no_cuda
@pytest.mark.parametrize(
    "call",
    [
        *(lambda r, s, p=p: p(r, s, device="cuda") for p in PROBES.values()),
        lambda r, s: train_encoder(r, iterations=1, device="cuda:0"),
        lambda r, s: train_scorer(np.zeros((4, 1, 8, 8)), np.zeros(4), [], [], 2, device="cuda"),
        lambda r, s: SuiteConfig(device="cuda"),
    ],
    ids=[*PROBES, "train_encoder", "train_scorer", "SuiteConfig"],
)
def test_a_missing_device_is_a_one_line_config_error(pair, call):
    with pytest.raises(ConfigError, match="cuda") as err:
        call(*pair)
    assert "\n" not in str(err.value)


@needs_cuda
def test_lds_scores_on_cuda():
    real = sine_windows(100, 16, 2, seed=1)
    noise = np.random.default_rng(0).uniform(size=real.shape)
    other = sine_windows(100, 16, 2, seed=2)
    kw = {"iterations": 100, "batch": 32, "seed": 0, "lr": 1e-2}
    same = lds(real, other, device="cuda", **kw)
    assert isinstance(same, float) and 0.0 <= same <= 0.5
    # a clearly separable pair is told apart on both devices
    assert lds(real, noise, device="cpu", **kw) > 0.3
    assert lds(real, noise, device="cuda", **kw) > 0.3


def test_suite_hands_its_device_to_every_probe(pair, monkeypatch):
    from tfusion.metrics import suite

    seen = {}

    def spy(name, result=0.1):
        def probe(*args, device=None, **kw):
            seen[name] = device
            return result

        return probe

    probes = ("lds", "lps", "lds_fast", "lps_fast", "timegan_discriminative")
    for name in (*probes, "timegan_predictive", "context_fid"):
        monkeypatch.setattr(suite, name, spy(name))
    monkeypatch.setattr(suite, "train_encoder", spy("train_encoder", None))
    cfg = SuiteConfig(metrics=suite.STOCHASTIC, repeats=1, device="cpu", workers=1)
    score_suite(*pair, cfg)
    assert seen.pop("train_encoder") == torch.device("cpu")
    assert seen.pop("context_fid") is None  # it embeds where the given encoder is
    assert seen == dict.fromkeys(seen, torch.device("cpu")) and len(seen) == 6


def test_evaluate_passes_the_device_to_the_suite(pair, tmp_path, monkeypatch):
    from tfusion.timeseries import evaluate

    got = []
    monkeypatch.setattr(evaluate, "evaluate_windows", lambda *a, suite, **kw: got.append(suite))
    np.save(tmp_path / "real.npy", pair[0])
    np.save(tmp_path / "syn.npy", pair[1])
    files = (tmp_path / "real.npy", tmp_path / "syn.npy", tmp_path / "out")
    evaluate.evaluate_files(*files, suite=SuiteConfig(), device=torch.device("cpu"))
    evaluate.evaluate_files(*files, suite=SuiteConfig())
    evaluate.evaluate_files(*files, device="cpu")
    assert [s and s.device for s in got] == ["cpu", None, None]
    # a run's evaluation: an explicit device, else the suite's own, else the run's device
    cpu = torch.device("cpu")
    assert evaluate._suite_on(SuiteConfig(), None, cpu).device == "cpu"
    assert evaluate._suite_on(SuiteConfig(device="auto"), None, cpu).device == "auto"
    assert evaluate._suite_on(SuiteConfig(device="auto"), cpu, None).device == "cpu"
    assert evaluate._suite_on(None, cpu, cpu) is None
