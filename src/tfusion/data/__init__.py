"""Time-series data: tables from files or built-ins, scalers, windows, splits and the pipeline."""

from tfusion.data.builtin import BUILTIN, BuiltinData, goog_frame, list_builtin, sine_windows
from tfusion.data.dataset import Prepared, prepare
from tfusion.data.scalers import Scaler
from tfusion.data.tables import Table, load_table
from tfusion.data.windows import Windows, make_windows, split_random, split_time

__all__ = [
    "BUILTIN",
    "BuiltinData",
    "Prepared",
    "Scaler",
    "Table",
    "Windows",
    "goog_frame",
    "list_builtin",
    "load_table",
    "make_windows",
    "prepare",
    "sine_windows",
    "split_random",
    "split_time",
]
