"""tfusion: diffusion models with transformer backbones (time series, DiT images, text+image)."""

__version__ = "0.1.0"
