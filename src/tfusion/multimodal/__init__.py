"""Transfusion (Zhou et al. 2024): one transformer over text tokens and image patches."""
