"""Atomic writes: all or nothing, and files with the user's normal permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tfusion.io import atomic_path, atomic_write_text


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[(0o022, 0o644), (0o077, 0o600)], ids=["umask022", "umask077"])
def umask(request):
    """Run the test under a umask; yields the mode a new file gets under it."""
    old = os.umask(request.param[0])
    try:
        yield request.param[1]
    finally:
        os.umask(old)


def test_atomic_files_get_the_umask_mode_not_mkstemp_0600(tmp_path, umask):
    atomic_write_text(tmp_path / "report.md", "hello\n")
    assert mode(tmp_path / "report.md") == umask
    with atomic_path(tmp_path / "weights.bin") as tmp:
        assert mode(tmp) == umask  # the temporary file already has the final mode
        tmp.write_bytes(b"\x00" * 8)
    assert mode(tmp_path / "weights.bin") == umask
    # a writer that replaces the temporary file with a narrower one is put right
    with atomic_path(tmp_path / "narrow.bin") as tmp:
        tmp.unlink()
        tmp.write_bytes(b"1")
        tmp.chmod(0o600)
    assert mode(tmp_path / "narrow.bin") == umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["narrow.bin", "report.md", "weights.bin"]


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_saved_autoencoder_gets_the_umask_mode(tmp_path, umask):
    from tfusion.latents import AutoencoderShape, ImageAutoencoder, save_autoencoder

    save_autoencoder(ImageAutoencoder(AutoencoderShape(1, 2, 2)), tmp_path)
    for name in ("autoencoder.safetensors", "autoencoder.json"):
        assert mode(tmp_path / name) == umask, name


def test_staged_folder_lands_whole_or_not_at_all(tmp_path):
    from tfusion.io import staged_folder

    out = tmp_path / "report"
    out.mkdir()
    (out / "report.json").write_text("old")
    (out / "a.png").write_text("old a")
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError), staged_folder(out) as stage:
        (stage / "a.png").write_text("new a")
        raise RuntimeError("killed halfway")
    # the old report stays whole, no new figure beside it, no staging folder left
    assert (out / "report.json").read_text() == "old" and (out / "a.png").read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    with staged_folder(out) as stage:
        (stage / "a.png").write_text("new a")
        (stage / "report.json").write_text("new")
    assert (out / "report.json").read_text() == "new" and (out / "a.png").read_text() == "new a"
    assert (out / "keep.txt").read_text() == "mine"  # other files are left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    with staged_folder(tmp_path / "new" / "deep") as stage:  # created on success only
        (stage / "report.json").write_text("x")
    assert (tmp_path / "new" / "deep" / "report.json").read_text() == "x"


def test_an_interrupted_evaluation_keeps_the_old_report(tmp_path, monkeypatch):
    import numpy as np

    from tfusion.timeseries import report as report_module
    from tfusion.timeseries.evaluate import evaluate_files

    rng = np.random.default_rng(0)
    np.save(tmp_path / "real.npy", rng.normal(size=(40, 8, 2)).astype(np.float32))
    np.save(tmp_path / "syn.npy", rng.normal(size=(40, 8, 2)).astype(np.float32))
    out = tmp_path / "ev"
    first = evaluate_files(tmp_path / "real.npy", tmp_path / "syn.npy", out, baselines=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "report.json" in before and "sequences.png" in before and first["out"] == str(out)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    # figures are drawn, then the run is cut before the report is written
    monkeypatch.setattr(report_module, "plot_embedding", killed)
    np.save(tmp_path / "syn.npy", rng.normal(size=(40, 8, 2)).astype(np.float32) + 3)
    with pytest.raises(KeyboardInterrupt):
        evaluate_files(tmp_path / "real.npy", tmp_path / "syn.npy", out, baselines=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev", "real.npy", "syn.npy"]
