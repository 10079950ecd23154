"""TransFusion (Sikder et al. 2023): long multivariate time series, transformer-encoder DDPM."""
