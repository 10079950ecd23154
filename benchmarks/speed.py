"""Speed benchmark: matmul peak, training throughput (paper-faithful vs fast path), sampling time.

Run: .venv/bin/python benchmarks/speed.py [--quick] [--out benchmarks/out/speed.json]

Everything is measured in one process, so ratios are comparable even on a noisy machine.
The paper-faithful path is the published architecture (post-LN `nn.TransformerEncoderLayer`,
step token, dropout 0.1) in fp32; the fast path is tfusion's `modern` blocks (pre-LN adaLN-Zero,
fused QKV on `scaled_dot_product_attention`, no attention dropout) with bf16 autocast where it
measures faster. Model FLOPs count matmuls only (forward + backward = 3 x forward).

On a CPU without native bf16 matmul units (AVX2-only: bf16 is emulated, 150x slower than fp32
measured on an AMD EPYC) the bf16 rows are skipped, as tfusion itself skips bf16 there
(`tfusion.precision`), and utilisation is given against the best measured peak (fp32 there).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import torch

from tfusion.diffusion import Objective, Schedule, diffusion_loss, make_sampler, sample_loop
from tfusion.precision import bf16_probe, cpu_model
from tfusion.timeseries.model import TimeSeriesDenoiser
from tfusion.timeseries.presets import TIMESERIES_PRESETS

FEATURES = 6


def matmul_peak(dtype: torch.dtype, n: int = 1536, reps: int = 6) -> float:
    """Best-of GFLOP/s of an n x n matmul in `dtype`."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def train_flops(width: int, depth: int, ff: int, length: int, batch: int) -> float:
    """Matmul FLOPs of one training step (forward + backward) of the encoder stack."""
    tokens = batch * length
    per_token_layer = 2 * (4 * width * width + 2 * width * ff)  # qkv + proj + MLP
    attention = 2 * 2 * length * width  # scores and weighted sum, per token and layer
    return 3 * depth * tokens * (per_token_layer + attention)


def time_training(
    preset: str, arch: str, bf16: bool, length: int, batch: int, steps: int, compile: bool = False
) -> dict[str, float]:
    """Windows/s and GFLOP/s of training steps (after one warm-up step, two when compiled)."""
    p = TIMESERIES_PRESETS[preset]
    dropout = 0.1 if arch == "paper" else 0.0
    torch.manual_seed(0)
    model = TimeSeriesDenoiser(FEATURES, p["width"], p["depth"], p["heads"], p["ff"], dropout, arch)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    net = torch.compile(model) if compile else model
    warm = 2 if compile else 1
    sched, obj = Schedule.create(), Objective()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, length, FEATURES) * 2 - 1
    times = []
    for i in range(steps + warm):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = diffusion_loss(net, x, sched, obj, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warm:
            times.append(time.perf_counter() - t0)
    dt = sorted(times)[len(times) // 2]
    flops = train_flops(p["width"], p["depth"], p["ff"], length, batch)
    return {"windows_per_s": batch / dt, "gflops": flops / dt / 1e9, "step_s": dt}


def time_sampling(preset: str, length: int, n: int, sampler: str, steps: int, bf16: bool) -> float:
    """Seconds to generate n windows with an untrained `preset` model (speed only)."""
    p = TIMESERIES_PRESETS[preset]
    model = TimeSeriesDenoiser(
        FEATURES, p["width"], p["depth"], p["heads"], p["ff"], 0.0, p["arch"]
    ).eval()
    sched = Schedule.create()

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(x, t)

    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    sample_loop(denoise, (n, length, FEATURES), sched, "v", make_sampler(sampler), steps, gen)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer lengths and steps")
    ap.add_argument("--only", nargs="*", default=None, help="presets to time (default: all three)")
    ap.add_argument("--lengths", nargs="*", type=int, default=None, help="override the lengths")
    ap.add_argument("--no-sampling", action="store_true", help="skip the sampling timings")
    ap.add_argument("--out", default="benchmarks/out/speed.json")
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also time the bf16 fast path under torch.compile (train.compile; ~1 min per row)",
    )
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "machine": {
            "cpus": torch.get_num_threads(),
            "platform": platform.platform(),
            "cpu": cpu_model(),
        },
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    result["peak_gflops"] = {
        "fp32": matmul_peak(torch.float32),
        "bf16": matmul_peak(torch.bfloat16),
    }
    native_bf16 = bf16_probe().fast
    peak_name = "bf16" if native_bf16 else "fp32"
    peak = result["peak_gflops"][peak_name]
    result["native_bf16"] = native_bf16
    result["utilisation_against"] = peak_name
    print(
        f"matmul peak: fp32 {result['peak_gflops']['fp32']:.0f} GFLOP/s, "
        f"bf16 {result['peak_gflops']['bf16']:.1f} GFLOP/s"
        + ("" if native_bf16 else " (no native bf16: bf16 rows skipped, % of the fp32 peak)")
    )
    lengths = args.lengths or ([24, 384] if args.quick else [24, 100, 384, 1024])
    steps = 2 if args.quick else 3
    rows = []
    pct_head = f"% {peak_name} peak"
    print(f"{'preset':<18}{'L':>6}{'path':>20}{'win/s':>10}{'GFLOP/s':>10}{pct_head:>12}")
    for preset in args.only or ("tiny", "small", "transfusion-paper"):
        for length in lengths:
            batch = max(4, min(64, 16384 // length))
            paths = {
                "paper-fp32": ("paper", False),
                "fast-fp32": ("modern", False),
                "fast-bf16": ("modern", True),
            }
            if args.compile:
                paths["fast-bf16-compiled"] = ("modern", True)
            if not native_bf16:
                paths = {k: v for k, v in paths.items() if not v[1]}
                if args.compile:
                    paths["fast-fp32-compiled"] = ("modern", False)
            row = {"preset": preset, "L": length, "batch": batch}
            for name, (arch, bf16) in paths.items():
                compiled = name.endswith("compiled")
                r = time_training(preset, arch, bf16, length, batch, steps, compiled)
                row[name] = r
                r["pct_of_peak"] = pct = 100 * r["gflops"] / peak
                print(
                    f"{preset:<18}{length:>6}{name:>20}{r['windows_per_s']:>10.1f}"
                    f"{r['gflops']:>10.1f}{pct:>11.1f}%",
                    flush=True,
                )
            best = max(row[k]["windows_per_s"] for k in paths if k.startswith("fast"))
            row["fast_over_paper"] = best / row["paper-fp32"]["windows_per_s"]
            print(f"{'':<24}fast path / paper path = {row['fast_over_paper']:.2f}x")
            rows.append(row)
            result["training"] = rows
            out.write_text(json.dumps(result, indent=2))
    if args.no_sampling:
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.write_text(json.dumps(result, indent=2))
        print(f"wrote {out}")
        return
    # sampling cost per window at L = 384 (the reference recipe is DDPM with 1000 steps)
    n = 8 if args.quick else 32
    sampling = {}
    for sampler, k in [("ddpm", 1000), ("ddim", 50), ("ddim", 20), ("dpm++", 20), ("dpm++", 10)]:
        if args.quick and sampler == "ddpm":
            k = 100  # extrapolated linearly below
        secs = time_sampling("small", 384, n, sampler, k, bf16=native_bf16)
        per_1000 = secs / n * 1000 * (1000 / k if sampler == "ddpm" and k != 1000 else 1)
        sampling[f"{sampler}-{1000 if sampler == 'ddpm' else k}"] = {"s_per_1000_windows": per_1000}
        print(f"sampling {sampler:>6} {k:>5} steps: {per_1000:8.1f} s per 1000 windows (L=384)")
    base = sampling["ddpm-1000"]["s_per_1000_windows"]
    for v in sampling.values():
        v["speedup_vs_ddpm1000"] = base / v["s_per_1000_windows"]
    result["sampling_small_L384"] = sampling
    result["sampling_dtype"] = "bf16" if native_bf16 else "fp32"
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(result, indent=2))
    print(f"peak RSS {result['peak_rss_mib']:.0f} MiB; wrote {out}")


if __name__ == "__main__":
    main()
