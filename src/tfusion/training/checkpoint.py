"""Run-folder checkpoints: safetensors weights + a tensors-only train state, written crash-safely.

A checkpoint is three files in the run folder: `model.safetensors`, `ema.safetensors` and
`train_state.pt` (optimiser state, step and RNG states; loadable with `weights_only=True`).
They are first written to a staging folder, which is marked COMPLETE, and only then moved into
place. If a process dies while moving, `recover` finishes the move on the next start; if it dies
while staging, the staging folder is discarded. Either way the files in the run folder are one
consistent checkpoint: the previous one or the new one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from tfusion.errors import CheckpointError
from tfusion.io import fsync_dir, new_file_mode

FILES = ("model.safetensors", "ema.safetensors", "train_state.pt")
MARK = "COMPLETE"


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DDP / torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        else:
            return model


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def save_weights(
    model: nn.Module | dict[str, Tensor], path: Path, metadata: dict[str, Any] | None = None
) -> None:
    """State dict of `model` (or a state dict) as safetensors (contiguous CPU copies, so the
    file loads on any device; metadata stored as strings), readable like any new file
    (safetensors itself creates it 0o600)."""
    sd = model if isinstance(model, dict) else unwrap(model).state_dict()
    sd = {k: v.detach().cpu().contiguous() for k, v in sd.items()}
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    save_file(sd, str(path), metadata=meta)
    os.chmod(path, new_file_mode(path.parent))


def save_checkpoint(
    run: Path,
    model: nn.Module | dict[str, Tensor],
    ema: nn.Module | dict[str, Tensor],
    state: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    """Write one consistent checkpoint (see module docstring)."""
    step = int(state["step"])
    stage = run / f".checkpoint-{step:09d}.staging"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    save_weights(model, stage / "model.safetensors", {**metadata, "step": step})
    save_weights(ema, stage / "ema.safetensors", {**metadata, "step": step, "ema": True})
    torch.save(state, stage / "train_state.pt")
    for name in FILES:
        _fsync(stage / name)
    (stage / MARK).write_text(str(step))
    _fsync(stage / MARK)
    fsync_dir(stage)
    _commit(run, stage)


def _commit(run: Path, stage: Path) -> None:
    for name in FILES:
        with suppress(FileNotFoundError):  # moved already (an earlier, interrupted commit)
            os.replace(stage / name, run / name)
    fsync_dir(run)
    shutil.rmtree(stage, ignore_errors=True)


def recover(run: Path) -> None:
    """Finish an interrupted checkpoint move, or drop an interrupted staging folder. Only for
    a run no process is training (see `training_lock`, `recover_if_idle`)."""
    for stage in sorted(run.glob(".checkpoint-*.staging")):
        if (stage / MARK).exists():
            _commit(run, stage)
        else:
            shutil.rmtree(stage, ignore_errors=True)


LOCK = ".train.lock"


@contextmanager
def training_lock(run: Path, active: bool = True) -> Iterator[None]:
    """Held by the process training into `run` for as long as it trains: a second trainer of
    the same folder is refused, and readers (`recover_if_idle`) leave its staging folders
    alone. POSIX only (fcntl); elsewhere a no-op."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows)
        yield
        return
    if not active:
        yield
        return
    with open(run / LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(
                f"another process is training into {run}; wait for it to finish, or train "
                "into another --out folder"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def recover_if_idle(run: Path) -> None:
    """`recover` unless a process is training into `run` now: its staging folder is the
    checkpoint it is writing, not an interrupted one (the run folder's files are each whole:
    they are only ever replaced by a rename)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows)
        recover(run)
        return
    if not (run / LOCK).exists():
        recover(run)
        return
    with open(run / LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        try:
            recover(run)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_weights(model: nn.Module, path: Path) -> dict[str, str]:
    """Load safetensors weights into `model` strictly; returns the file's metadata."""
    if not path.is_file():
        raise CheckpointError(
            f"{path} not found; is this a tfusion run folder with a finished checkpoint?"
        )
    try:
        sd = load_file(str(path))

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is corrupt or not a safetensors file ({str(e).splitlines()[0]}); "
            "restore it or train again"
        ) from None
    target = unwrap(model)
    own = target.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]!r})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]!r})")
        if shapes:
            k = shapes[0]
            parts.append(
                f"{len(shapes)} with another shape (e.g. {k!r}: file {tuple(sd[k].shape)}, "
                f"model {tuple(own[k].shape)})"
            )
        raise CheckpointError(
            f"weights in {path} do not fit this model: {', '.join(parts)}; "
            "was it trained with another config or data set?"
        )
    bad = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:  # a damaged file with a valid header, or a run saved after it diverged
        raise CheckpointError(
            f"{path} holds NaN or infinite values ({len(bad)} tensor(s), e.g. {bad[0]!r}): the "
            "file is damaged or the training diverged; restore it or train again"
        )
    target.load_state_dict(sd, strict=True)
    return meta


def load_train_state(path: Path) -> dict[str, Any]:
    """The train state, loaded with `weights_only=True` (no pickled objects)."""
    if not path.is_file():
        raise CheckpointError(f"{path} not found; cannot resume (start without --resume)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a corrupt or hostile file
        raise CheckpointError(
            f"{path} is corrupt or not a tfusion train state ({type(e).__name__}); "
            "restore it or start without --resume"
        ) from None
