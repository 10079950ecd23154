"""User-facing errors: each carries one line that says what is wrong and how to fix it.

The CLI prints `error: <message>` for these and exits with code 2; anything else is a bug.
"""

from __future__ import annotations


class TfusionError(Exception):
    """Base class of errors caused by the user's input, not by a bug.

    The message is always one line: line breaks that come from the input (a column name with a
    newline, a file's text) are shown escaped as \\n.
    """

    def __str__(self) -> str:
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class ConfigError(TfusionError):
    """A configuration value or key is wrong."""


class DataError(TfusionError):
    """Input data is missing, unreadable or unusable."""


class CheckpointError(TfusionError):
    """A run folder or checkpoint is missing, corrupt or belongs to another model."""


class TrainingError(TfusionError):
    """Training cannot continue (for example the loss became NaN)."""
