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
