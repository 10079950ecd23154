"""Atomic file writes: a reader sees the old file or the complete new one, never half of one.

Files get the user's normal permissions (0o666 less the umask, like `open`), not the 0o600 of
`tempfile.mkstemp`, so colleagues can read run folders and reports.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# floats in every CSV tfusion writes: 10 significant digits (float32 data round-trips; %.7g
# had cut epoch seconds and large ids)
CSV_FLOAT = "%.10g"


def csv_header(names: list[str] | tuple[str, ...]) -> str:
    """One CSV header line, each name quoted where it holds a comma, a quote or a line break."""
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(names)
    return buf.getvalue()


FILE_MODE = 0o666  # less the umask, which the kernel applies when the file is created


def _create_beside(path: Path) -> tuple[Path, int]:
    """A new, empty file `.NAME.XXXXXXXX.tmp` beside `path` and its permission bits: created
    exclusively with FILE_MODE, so the kernel applies the umask (and any default ACL) as for
    any new file. Reading the umask with os.umask would briefly change it for every thread."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, FILE_MODE)
        except FileExistsError:
            continue
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        return tmp, mode
    raise FileExistsError(f"no free temporary name beside {path}")


def new_file_mode(folder: str | Path) -> int:
    """The permission bits a new file in `folder` gets (0o666 less the umask), found by creating
    one: for files a writer creates with narrower bits (safetensors: 0o600)."""
    probe, mode = _create_beside(Path(folder) / "mode")
    probe.unlink()
    return mode


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`.

    The temporary file exists (empty) with the permissions the final file gets: 0o666 less the
    umask. On any exception the temporary file is removed and `path` is left untouched.
    """
    path = Path(path)
    tmp_path, mode = _create_beside(path)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode)  # a writer that replaced the file may have narrowed it
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """Yield a new hidden folder beside `out` to write a report into; on success move its
    entries into `out` (created if needed), `report.json` last, replacing files of the same
    name. On any exception the staging folder is removed and `out` is left as it was, so an
    interrupted evaluation never leaves an old report beside new figures."""
    out = check_out_folder(out, "report folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    stage.mkdir()
    try:
        yield stage
        out.mkdir(exist_ok=True)
        names = sorted((p.name for p in stage.iterdir()), key=lambda n: n == "report.json")
        for name in names:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(stage / name, target)
        fsync_dir(out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def staged_report(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate a function that writes a report into its `out` folder argument so that it
    writes into a `staged_folder` instead: the report lands whole or not at all."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        bound = signature.bind(*args, **kwargs)
        with staged_folder(bound.arguments["out"]) as stage:
            bound.arguments["out"] = stage
            return fn(*bound.args, **bound.kwargs)

    return wrapper


def fsync_dir(path: str | Path) -> None:
    """Make renames inside a directory durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_out_path(path: str | Path, suffixes: tuple[str, ...], flag: str = "--out") -> Path:
    """Fail before any work if an output could not be written to `path`: its suffix must be
    one of `suffixes`, it must not be a folder, and its folder must exist and take a new file
    (tried with an empty temporary file, removed at once). One-line ConfigError otherwise."""
    from tfusion.errors import ConfigError

    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{flag} must end in {' or '.join(suffixes)}, got {path.name!r}")
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a folder; give a file name inside it")
    if path.parent.exists() and not path.parent.is_dir():
        raise ConfigError(f"{path.parent} is a file, not a folder; choose another {flag}")
    if not path.parent.is_dir():
        raise ConfigError(
            f"folder {path.parent} does not exist; create it or choose another {flag}"
        )
    try:
        probe, _ = _create_beside(path)
    except OSError as e:
        raise ConfigError(
            f"cannot write to {path.parent} ({e.strerror or e}); choose another {flag}"
        ) from None
    probe.unlink()
    return path


def check_out_folder(path: str | Path, flag: str = "--out") -> Path:
    """Fail before any work if a report folder could not be made at `path`: it must not be a
    file, and the nearest folder that exists must take a new file (tried, removed at once)."""
    from tfusion.errors import ConfigError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file; give a folder for the report")
    base = path
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise ConfigError(f"{base} is a file, not a folder; choose another {flag}")
    try:
        probe, _ = _create_beside(base / "probe")
    except OSError as e:
        raise ConfigError(
            f"cannot write to {base} ({e.strerror or e}); choose another {flag}"
        ) from None
    probe.unlink()
    return path
