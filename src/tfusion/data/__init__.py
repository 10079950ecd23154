"""Shared data readers: tables from files or built-ins, scalers, windows, splits, images."""

from tfusion.data.builtin import BUILTIN, BuiltinData, goog_frame, list_builtin, sine_windows
from tfusion.data.scalers import Scaler
from tfusion.data.tables import Table, load_table
from tfusion.data.windows import Windows, make_windows, split_random, split_time

__all__ = [
    "BUILTIN",
    "BuiltinData",
    "Scaler",
    "Table",
    "Windows",
    "goog_frame",
    "list_builtin",
    "load_table",
    "make_windows",
    "sine_windows",
    "split_random",
    "split_time",
]
