"""DiT speed: training images/s and model FLOP/s against the measured matmul peak; sampling time.

Run: .venv/bin/python benchmarks/speed_dit.py [--quick] [--out benchmarks/out/speed_dit.json]

Models: DiT-S/2 and DiT-B/4 at 32 x 32 x 4 (the paper's latent shape, 1000 classes), fp32 and
bf16 autocast, batch 32. Model FLOPs: forward matmuls (linears, patch conv, attention) x 3 for a
training step. Sampling: seconds per image, DDPM-250 (the paper's sampler; timed on a few steps
and scaled) vs DPM-Solver++ with 20 steps, classifier-free guidance on (one batched pass).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import torch

from speed import matmul_peak  # benchmarks/speed.py, next to this file
from tfusion.diffusion import Schedule, add_noise, make_sampler, sample_loop
from tfusion.dit.model import DiT, DiTShape, dit_flops_per_image


def time_training(name: str, bf16: bool, batch: int, steps: int) -> dict[str, float]:
    torch.manual_seed(0)
    shape = DiTShape.preset(name, image_size=32, channels=4, num_classes=1000)
    model = DiT(shape)
    opt = torch.optim.AdamW(model.parameters(), 1e-4, weight_decay=0.0)
    sched = Schedule.create("linear", 1000)
    x0 = torch.randn(batch, 4, 32, 32)
    y = torch.randint(0, 1000, (batch,))

    def step() -> None:
        t = torch.rand(batch).clamp_min(1e-3)
        eps = torch.randn_like(x0)
        alpha, sigma = (v.float() for v in sched.alpha_sigma(t))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pred = model(add_noise(x0, eps, alpha, sigma), t, y)
        loss = (pred.float() - eps).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - t0) / steps
    flops = 3 * dit_flops_per_image(shape) * batch
    return {"images_per_s": batch / seconds, "gflops": flops / seconds / 1e9}


def time_sampling(name: str, sampler: str, steps: int, timed_steps: int, n: int) -> float:
    """Seconds per image of `steps` sampler steps, timed on `timed_steps` and scaled."""
    torch.manual_seed(0)
    shape = DiTShape.preset(name, image_size=32, channels=4, num_classes=1000)
    model = DiT(shape).eval()
    sched = Schedule.create("linear", 1000)
    y = torch.randint(0, 1000, (n,))
    guided = model.guided(y, 4.0)

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            return guided(x, t)

    t0 = time.perf_counter()
    sample_loop(
        denoise,
        (n, 4, 32, 32),
        sched,
        "eps",
        make_sampler(sampler),
        timed_steps,
        torch.Generator().manual_seed(0),
    )
    return (time.perf_counter() - t0) / timed_steps * steps / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="benchmarks/out/speed_dit.json")
    args = ap.parse_args()
    steps = 3 if args.quick else 8
    result: dict = {
        "machine": {"threads": torch.get_num_threads(), "platform": platform.platform()},
        "torch": torch.__version__,
        "peak_gflops": {
            "fp32": matmul_peak(torch.float32),
            "bf16": matmul_peak(torch.bfloat16),
        },
        "training": [],
        "sampling": [],
    }
    peak = result["peak_gflops"]
    print(f"matmul peak: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s")
    print(f"{'model':<10}{'dtype':<6}{'img/s':>9}{'GFLOP/s':>9}{'% bf16 peak':>13}")
    for name in ("DiT-S/2", "DiT-B/4"):
        for bf16 in (False, True):
            r = time_training(name, bf16, 32, steps)
            r |= {"model": name, "bf16": bf16, "pct_bf16_peak": 100 * r["gflops"] / peak["bf16"]}
            result["training"].append(r)
            dtype = "bf16" if bf16 else "fp32"
            print(
                f"{name:<10}{dtype:<6}{r['images_per_s']:>9.1f}{r['gflops']:>9.0f}"
                f"{r['pct_bf16_peak']:>12.0f}%",
                flush=True,
            )
    print(f"{'model':<10}{'sampler':<12}{'s / image':>10}")
    for name in ("DiT-S/2", "DiT-B/4"):
        for sampler, total, timed in (("ddpm", 250, 10), ("dpm++", 20, 20)):
            s = time_sampling(name, sampler, total, timed if not args.quick else 5, 16)
            result["sampling"].append({"model": name, "sampler": sampler, "steps": total, "s": s})
            print(f"{name:<10}{sampler + '-' + str(total):<12}{s:>10.3f}", flush=True)
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
