"""Checkpoints: the files, and the staging folder they are made in, get normal permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from torch import nn

from tfusion.training import checkpoint
from tfusion.training.checkpoint import FILES, save_checkpoint


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"),
    [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)],
    ids=["umask022", "umask077"],
)
def test_checkpoint_files_and_staging_get_the_umask_modes(
    tmp_path, monkeypatch, mask, file_mode, dir_mode
):
    staged: dict[str, int] = {}
    commit = checkpoint._commit

    def spy(run: Path, stage: Path) -> None:  # look at the staging folder before it is moved
        staged["<dir>"] = mode(stage)
        staged.update({p.name: mode(p) for p in stage.iterdir()})
        commit(run, stage)

    monkeypatch.setattr(checkpoint, "_commit", spy)
    old = os.umask(mask)
    try:
        run = tmp_path / "run"
        run.mkdir()
        model = nn.Linear(3, 2)
        state = {"step": 7, "generator": torch.Generator().get_state()}
        save_checkpoint(run, model, model, state, {"family": "test"})
    finally:
        os.umask(old)
    assert staged == {"<dir>": dir_mode, **dict.fromkeys((*FILES, checkpoint.MARK), file_mode)}
    for name in FILES:
        assert mode(run / name) == file_mode, name
    assert sorted(p.name for p in run.iterdir()) == sorted(FILES)  # staging removed
