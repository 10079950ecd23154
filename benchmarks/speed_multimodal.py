"""Transfusion speed: training tokens/s, and caption -> image latency with and without the cache.

Run: .venv/bin/python benchmarks/speed_multimodal.py [--out benchmarks/out/speed_multimodal.json]

Model: the default shape (4 x 256, 4 heads), images 32 x 32 x 3 in 4 x 4 patches (64 patches).
Training: batches of 32 sequences of a 64-byte caption + one image (134 positions), bf16
autocast, tokens/s counted over text and image positions. Latency: one image after a 64-token
prefix, 50 DPM-Solver++ steps, guidance on (conditional + unconditional rows in one batch).
The cache saves recomputing the prefix at every step; with a prefix of T0 positions and n
patches the work per step falls from about T0 + n positions to n, so the ideal speed-up is
(T0 + n) / n = 2 here; longer prompts gain more.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from tfusion.diffusion import Schedule
from tfusion.multimodal.decode import ImageSpec, MultimodalGenerator
from tfusion.multimodal.loss import transfusion_loss
from tfusion.multimodal.model import MultimodalShape, MultimodalTransformer
from tfusion.multimodal.sequences import layout, pack
from tfusion.multimodal.tokenizer import ByteTokenizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="benchmarks/out/speed_multimodal.json")
    ap.add_argument("--prefixes", type=int, nargs="+", default=[64, 256])
    args = ap.parse_args()
    spec = ImageSpec(channels=3, size=32, patch=4)
    tok = ByteTokenizer()
    shape = MultimodalShape(vocab=tok.vocab_size, patch_dim=spec.patch_dim)
    torch.manual_seed(0)
    model = MultimodalTransformer(shape)
    schedule = Schedule.create("cosine", 1000)
    opt = torch.optim.AdamW(model.parameters(), 3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    caption = [ord("a")] * args.prefixes[0]
    seqs = [layout([caption, torch.randn(spec.patches, spec.patch_dim).numpy()], tok)] * 32
    batch = pack(seqs, spec.patch_dim, tok.PAD)
    positions = int(batch.valid.sum())

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = transfusion_loss(model, batch, schedule, torch.Generator().manual_seed(0))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(5):
        step()
    train_s = (time.perf_counter() - t0) / 5
    result = {"train_tokens_per_s": positions / train_s, "train_step_s": train_s}
    print(f"training: {positions / train_s:.0f} tokens/s ({positions} tokens per step)")

    gen = MultimodalGenerator(model.eval(), spec, schedule, "eps", tok)
    result["latency"] = []
    print(f"{'prefix':>7}{'cached s':>10}{'uncached s':>12}{'speed-up':>10}{'ideal':>8}")
    for prefix in args.prefixes:
        prompt = "a" * (prefix - 2)  # BOS + caption + BOI = prefix positions
        row = {"prefix": prefix, "patches": spec.patches, "steps": 50}
        for use_cache in (True, False):
            gen.text_to_image([prompt], 5.0, "dpm++", 2, use_cache=use_cache)  # warm-up
            t0 = time.perf_counter()
            gen.text_to_image([prompt], 5.0, "dpm++", 50, use_cache=use_cache)
            row["cached_s" if use_cache else "uncached_s"] = time.perf_counter() - t0
        row["speedup"] = row["uncached_s"] / row["cached_s"]
        # per step the cache removes the prefix: (T0 + n) positions become n
        row["ideal_speedup"] = (prefix + spec.patches) / spec.patches
        result["latency"].append(row)
        print(
            f"{prefix:>7}{row['cached_s']:>10.2f}{row['uncached_s']:>12.2f}"
            f"{row['speedup']:>9.2f}x{row['ideal_speedup']:>7.2f}x"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
