"""Progress bars: lively in a terminal, a line every few seconds in a log file."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm.auto import tqdm

TERMINAL_INTERVAL = 0.5  # seconds between redraws on a terminal
LOG_INTERVAL = 5.0  # seconds between lines in a log file: the count moves, the log stays short


def progress(
    iterable: Iterable | None = None,
    enabled: bool = True,
    file: IO[str] | None = None,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar over `iterable` (None: a bar driven by `bar.update(n)`) writing to `file`
    (default stderr): redrawn every TERMINAL_INTERVAL on a terminal, a line at most every
    LOG_INTERVAL elsewhere.

    A bar iterated with `for x in bar` updates the count it shows only when it prints, so a
    postfix set in the loop shows a stale count; a loop that sets a postfix should drive the bar
    with `update` and set the postfix with `refresh=False` (it shows on the next line)."""
    stream = sys.stderr if file is None else file
    isatty = getattr(stream, "isatty", None)
    interactive = bool(isatty and isatty())
    options: dict[str, Any] = {
        "mininterval": TERMINAL_INTERVAL if interactive else LOG_INTERVAL,
        "dynamic_ncols": interactive,
    }
    if not interactive:  # look at the clock on every update: a slower phase still prints
        options["miniters"] = 1
    return tqdm(iterable, disable=not enabled, file=stream, **{**options, **kwargs})
