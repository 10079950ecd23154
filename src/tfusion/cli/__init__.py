"""The `tfusion` command: a thin map from verbs to library functions."""
