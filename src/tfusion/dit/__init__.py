"""DiT (Peebles & Xie 2023): images as patch tokens, adaLN-Zero, classifier-free guidance."""
