"""Frozen text encoders loaded from a local folder (no downloads): a CLIP text model saved with
`transformers` (`CLIPTextModel.save_pretrained` + its tokenizer), as DiT's text condition can
use one (`model.text_encoder=FOLDER`). Captions become the model's pooled embedding (the final
state at the end-of-text token), computed once per caption set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tfusion.errors import ConfigError


class ClipText:
    """A CLIP text model + tokenizer from `folder`: encode(captions) -> (N, E) float32."""

    def __init__(self, folder: str | Path, max_length: int = 77) -> None:
        path = Path(folder).expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"text encoder folder {folder} has no config.json; save a CLIP text model there "
                "with CLIPTextModel.save_pretrained and its tokenizer with save_pretrained"
            )
        try:
            import transformers
            from transformers import AutoTokenizer, CLIPTextModel
        except ImportError:
            raise ConfigError(
                "a CLIP text encoder needs the transformers package: pip install transformers"
            ) from None
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = CLIPTextModel.from_pretrained(path, local_files_only=True).eval()
        except (OSError, ValueError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(f"cannot load a CLIP text model from {folder}: {first}") from None
        self.model.requires_grad_(False)
        positions = int(self.model.config.max_position_embeddings)
        self.max_length = min(max_length, positions)
        self.dim = int(self.model.config.hidden_size)

    @torch.no_grad()
    def encode(self, captions: list[str], batch: int = 256) -> np.ndarray:
        """The pooled embedding of each caption (an empty caption: a row of NaN, the null
        condition)."""
        out = np.full((len(captions), self.dim), np.nan, dtype=np.float32)
        real = [i for i, c in enumerate(captions) if c]
        for start in range(0, len(real), batch):
            idx = real[start : start + batch]
            enc = self.tokenizer(
                [captions[i] for i in idx],
                padding="max_length",
                max_length=self.max_length,
                truncation=True,
                return_tensors="pt",
            )
            pooled = self.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask)
            out[idx] = pooled.pooler_output.float().numpy()
        return out
