"""Named model sizes, as data. `tfusion info` lists them."""

from __future__ import annotations

import difflib
from dataclasses import fields, replace
from typing import TYPE_CHECKING

from tfusion.errors import ConfigError

if TYPE_CHECKING:  # the config checks its preset against this table: no import cycle
    from tfusion.timeseries.config import ModelConfig

# the denoiser's block types: paper (post-LN, step token) | modern (pre-LN, adaLN, SDPA)
ARCHS = ("paper", "modern")

# Time-series denoisers. `transfusion-paper` is the published TransFusion model (Sikder et al.
# 2023): post-LN encoder, step token, 6 x 256 wide, 8 heads, feed-forward 1024, dropout 0.1.
TIMESERIES_PRESETS: dict[str, dict] = {
    "tiny": dict(arch="modern", width=64, depth=2, heads=4, ff=256, dropout=0.0),
    "small": dict(arch="modern", width=128, depth=4, heads=4, ff=512, dropout=0.0),
    "base": dict(arch="modern", width=256, depth=6, heads=8, ff=1024, dropout=0.0),
    "transfusion-paper": dict(arch="paper", width=256, depth=6, heads=8, ff=1024, dropout=0.1),
}

PRESET_NOTES: dict[str, str] = {
    "tiny": "2 x 64 adaLN encoder; trains in a minute on 2 CPU cores",
    "small": "4 x 128 adaLN encoder; the demo's model",
    "base": "6 x 256 adaLN encoder (the paper's size, modern blocks)",
    "transfusion-paper": "the published TransFusion model: post-LN, step token, 6 x 256, 8 heads",
}


def resolve_model(cfg: ModelConfig) -> ModelConfig:
    """Fill every None field of `cfg` from its preset; unknown presets are an error."""
    if cfg.preset not in TIMESERIES_PRESETS:
        near = difflib.get_close_matches(cfg.preset, list(TIMESERIES_PRESETS), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ConfigError(
            f"unknown preset {cfg.preset!r}; {hint}choose one of {', '.join(TIMESERIES_PRESETS)}"
        )
    base = TIMESERIES_PRESETS[cfg.preset]
    filled = {
        f.name: base[f.name] for f in fields(cfg) if f.name in base and getattr(cfg, f.name) is None
    }
    out = replace(cfg, **filled)
    if out.arch not in ARCHS:
        raise ConfigError(f"model.arch must be one of {', '.join(ARCHS)}, got {out.arch!r}")
    if out.width % out.heads:
        raise ConfigError(f"model.width {out.width} must be divisible by model.heads {out.heads}")
    return out
