"""Progress bars: lively in a terminal, a line every 30 s in a log file."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress(iterable: Iterable, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar over `iterable` that does not flood non-interactive logs."""
    interactive = sys.stderr.isatty()
    return tqdm(
        iterable,
        disable=not enabled,
        mininterval=0.5 if interactive else 30.0,
        dynamic_ncols=interactive,
        **kwargs,
    )
