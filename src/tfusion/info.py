"""`tfusion info`: what presets, samplers, schedules, objectives and data sets exist."""

from __future__ import annotations

import torch

from tfusion import __version__
from tfusion.config import SPACINGS
from tfusion.data.builtin import list_builtin
from tfusion.diffusion.objectives import LOSSES, PREDICTIONS
from tfusion.diffusion.samplers import SAMPLERS
from tfusion.diffusion.schedules import BETA_SCHEDULES
from tfusion.models.dit import DIT_PRESETS, DiT, DiTShape, count_parameters
from tfusion.models.presets import PRESET_NOTES, TIMESERIES_PRESETS
from tfusion.precision import bf16_probe, cpu_model


def describe() -> str:
    """A plain-text listing for the terminal."""
    lines = [f"tfusion {__version__}", "", "time-series presets:"]
    for name, p in TIMESERIES_PRESETS.items():
        shape = (
            f"{p['arch']:<6} depth {p['depth']} width {p['width']} heads {p['heads']} ff {p['ff']}"
        )
        lines.append(f"  {name:<18} {shape}  — {PRESET_NOTES.get(name, '')}")
    lines += ["", "DiT presets (parameters at 32 x 32 x 4, 28 x 28 for patch 7; 1000 classes):"]
    for name, p in DIT_PRESETS.items():
        size = 32 if 32 % p["patch"] == 0 else 28
        with torch.device("meta"):
            shape = DiTShape.preset(name, image_size=size, learn_sigma=True)
            n = count_parameters(DiT(shape))
        shape = (
            f"depth {p['depth']:>2} width {p['width']:>4} heads {p['heads']:>2} patch {p['patch']}"
        )
        lines.append(f"  {name:<11} {shape}  {n / 1e6:7.1f} M")
    lines += ["", "image data: digits, mnist, a folder of class sub-folders, an .npz"]
    lines += ["", f"samplers: {', '.join(SAMPLERS)}", f"schedules: {', '.join(BETA_SCHEDULES)}"]
    lines += [f"step spacings: {', '.join(SPACINGS)} (sample.spacing, --spacing)"]
    lines += [f"predictions: {', '.join(PREDICTIONS)}; losses: {', '.join(LOSSES)}", ""]
    lines.append("built-in data:")
    lines += [f"  {name:<6} {text}" for name, text in list_builtin()]
    probe = bf16_probe()
    verdict = "bf16 autocast is used where asked" if probe.fast else "bf16 requests run in fp32"
    lines += [
        "",
        f"machine: {cpu_model()}, {torch.get_num_threads()} threads; matmul "
        f"{probe.fp32_gflops:.0f} GFLOP/s fp32, {probe.bf16_gflops:.1f} bf16 ({verdict})",
    ]
    return "\n".join(lines)
