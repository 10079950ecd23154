"""Distribution scores: invariants that could fail (real vs real small, broken data large)."""

import json

import numpy as np
import pytest

from tfusion.data import sine_windows
from tfusion.errors import DataError
from tfusion.metrics import autocorrelation_distance, distribution_scores
from tfusion.metrics.baselines import gaussian_windows, shuffled_windows
from tfusion.metrics.distribution import autocorrelation
from tfusion.timeseries.evaluate import evaluate_files
from tfusion.timeseries.report import evaluate_windows


@pytest.fixture(scope="module")
def sines():
    return sine_windows(1200, 24, 3, seed=0).astype(np.float64)


def test_real_vs_real_beats_both_baselines(sines):
    a, b = sines[:600], sines[600:]
    same = distribution_scores(a, b)
    noise = distribution_scores(a, gaussian_windows(b, 600, 1))
    shuffled = distribution_scores(a, shuffled_windows(b, 600, 1))
    for key in same:
        assert same[key] < noise[key], key
    # shuffling keeps values but destroys order: only increments and ACF can see it
    assert shuffled["increment_wasserstein"] > 5 * same["increment_wasserstein"]
    assert shuffled["autocorrelation_distance"] > 5 * same["autocorrelation_distance"]
    assert same["marginal_jsd"] < 0.02


def test_autocorrelation_distance_known_values():
    rng = np.random.default_rng(0)
    white = rng.normal(size=(400, 64, 1))
    walk = np.cumsum(white, axis=1)
    assert autocorrelation_distance(white, white).item() == 0
    assert autocorrelation_distance(white, walk).item() > 0.1
    acf_white, acf_walk = autocorrelation(white, 1).item(), autocorrelation(walk, 1).item()
    assert abs(acf_white + 1 / 64) < 0.02  # white noise: E[r1] ~ -1/L
    assert acf_walk > 0.8


def test_scores_ignore_window_order(sines):
    a, b = sines[:500], sines[500:1000]
    perm = np.random.default_rng(3).permutation(500)
    s1, s2 = distribution_scores(a, b), distribution_scores(a[perm], b[::-1].copy())
    for k in s1:
        assert s1[k] == pytest.approx(s2[k], rel=1e-9, abs=1e-12)


def test_bad_pairs_are_clear_errors(sines):
    with pytest.raises(DataError, match="synthetic"):
        distribution_scores(sines, sines[:, :12])
    bad = sines.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        distribution_scores(sines, bad)


def test_report_files_and_evaluate_files(sines, tmp_path):
    real, fake = tmp_path / "real.npy", tmp_path / "fake.npy"
    np.save(real, sines[:300])
    np.save(fake, sines[300:600])
    report = evaluate_files(real, fake, tmp_path / "rep")
    on_disk = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert on_disk["scores"] == report["scores"]
    md = (tmp_path / "rep" / "report.md").read_text()
    for fig in ("pca.png", "tsne.png", "histograms.png", "sequences.png", "autocorrelation.png"):
        assert (tmp_path / "rep" / fig).stat().st_size > 1000
        assert fig in md
    assert (
        report["scores"]["synthetic"]["marginal_jsd"]
        < report["scores"]["gaussian_noise"]["marginal_jsd"]
    )


def test_evaluate_windows_without_plots(sines, tmp_path):
    r = evaluate_windows(sines[:100], sines[100:200], tmp_path, plots=False, baselines=False)
    assert set(r["scores"]) == {"synthetic"}
    assert not list(tmp_path.glob("*.png"))


def test_report_baselines_share_the_context_fid_encoders(sines, tmp_path, monkeypatch):
    import tfusion.metrics.suite as suite_module
    from tfusion.metrics.suite import SuiteConfig

    trained = []
    original = suite_module.train_encoder
    monkeypatch.setattr(
        suite_module, "train_encoder", lambda x, **kw: trained.append(1) or original(x, **kw)
    )
    cfg = SuiteConfig(metrics=("context_fid",), repeats=2, fid_iterations=20, workers=1)
    r = evaluate_windows(sines[:100], sines[100:200], tmp_path, plots=False, suite=cfg)
    fid = {name: s["context_fid"]["mean"] for name, s in r["suite"].items()}
    assert set(fid) == {"synthetic", "gaussian_noise", "shuffled_real"}
    assert fid["synthetic"] < fid["gaussian_noise"]
    assert len(trained) == 2  # one encoder per seed for all three sets, not one per set


def test_a_2d_synthetic_file_is_explained_not_reported_as_a_shape_it_never_had(sines, tmp_path):
    from tfusion.errors import DataError

    real, flat = tmp_path / "real.npy", tmp_path / "flat.npy"
    np.save(real, sines[:50])
    np.save(flat, sines[50:70, :, 0])  # (20, 24): one feature dropped by mistake
    with pytest.raises(DataError, match=r"24 steps x 1 features but .* 24 x 3 \(a 2-D array"):
        evaluate_files(real, flat, tmp_path / "rep")
    assert not (tmp_path / "rep").exists()


def test_the_public_distances_refuse_mismatched_sets():
    from tfusion.metrics.distribution import autocorrelation_distance, marginal_distances

    rng = np.random.default_rng(0)
    real = rng.normal(size=(20, 24, 3))
    for other in (rng.normal(size=(20, 24, 5)), rng.normal(size=(20, 8, 3))):
        with pytest.raises(DataError):  # were broadcast, cut or silently ignored
            marginal_distances(real, other)
        with pytest.raises(DataError):
            autocorrelation_distance(real, other)
