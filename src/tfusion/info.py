"""`tfusion info`: what presets, samplers, schedules, objectives and data sets exist."""

from __future__ import annotations

from tfusion import __version__
from tfusion.data.builtin import list_builtin
from tfusion.diffusion.objectives import LOSSES, PREDICTIONS
from tfusion.diffusion.samplers import SAMPLERS
from tfusion.diffusion.schedules import BETA_SCHEDULES
from tfusion.models.presets import PRESET_NOTES, TIMESERIES_PRESETS


def describe() -> str:
    """A plain-text listing for the terminal."""
    lines = [f"tfusion {__version__}", "", "time-series presets:"]
    for name, p in TIMESERIES_PRESETS.items():
        shape = (
            f"{p['arch']:<6} depth {p['depth']} width {p['width']} heads {p['heads']} ff {p['ff']}"
        )
        lines.append(f"  {name:<18} {shape}  — {PRESET_NOTES.get(name, '')}")
    lines += ["", f"samplers: {', '.join(SAMPLERS)}", f"schedules: {', '.join(BETA_SCHEDULES)}"]
    lines += [f"predictions: {', '.join(PREDICTIONS)}; losses: {', '.join(LOSSES)}", ""]
    lines.append("built-in data:")
    lines += [f"  {name:<6} {text}" for name, text in list_builtin()]
    return "\n".join(lines)
