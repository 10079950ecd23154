"""CPU attention kernels: the fused flash kernel vs the math kernel, bf16 vs fp32, with and
without a backward pass, at 4 heads of 32 and B x L = 16384 tokens (`small`'s attention).

    .venv/bin/python benchmarks/attention_kernels.py

Found here (2026-12-03): the flash kernel's bf16 backward is far slower than its fp32 one, which
is why `tfusion.nn.attention.attention` runs training attention in fp32 under bf16 autocast.
"""

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

torch.manual_seed(0)


def bench(fn, B, H, L, d, dtype, grad, reps=7):
    q, k, v = (torch.randn(B, H, L, d, dtype=dtype, requires_grad=grad) for _ in range(3))
    ts = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        if grad:
            o = fn(q, k, v)
            o.sum().backward()
        else:
            with torch.no_grad():
                fn(q, k, v)
        if i:
            ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


def flash(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


def math_(q, k, v):
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v)


rows = []
for dtype in (torch.bfloat16, torch.float32):
    for grad in (True, False):
        for L in (24, 48, 64, 96, 128, 192, 256, 384):
            B = max(1, 16384 // L)
            a = bench(flash, B, 4, L, 32, dtype, grad)
            b = bench(math_, B, 4, L, 32, dtype, grad)
            rows.append(
                {
                    "dtype": str(dtype)[6:],
                    "backward": grad,
                    "L": L,
                    "batch": B,
                    "flash_ms": a * 1e3,
                    "math_ms": b * 1e3,
                }
            )
            print(
                f"{str(dtype)[6:]:9s} grad={grad!s:5s} L={L:4d} B={B:4d} "
                f"flash {a * 1e3:7.1f} ms  math {b * 1e3:7.1f} ms  math/flash {b / a:5.2f}"
            )
Path("benchmarks/results/attention_kernels.json").write_text(json.dumps(rows, indent=2))
