"""The byte tokenizer lives in the core (`tfusion.data.text`): DiT's captions use it too."""

from tfusion.data.text import ByteTokenizer

__all__ = ["ByteTokenizer"]
