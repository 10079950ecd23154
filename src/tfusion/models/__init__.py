"""Model families: time series (TransFusion); DiT and Transfusion follow."""
