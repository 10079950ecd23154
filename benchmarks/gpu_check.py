"""One prepared accelerator check: every family trains, samples, is killed and resumed on a GPU.

Run (on a machine with a GPU; under 8 minutes on one H100):

    python benchmarks/gpu_check.py                      # device auto: the GPU
    python benchmarks/gpu_check.py --smoke --device cpu # every code path, tiny sizes, on a CPU

Sections (each runs whatever happened before it; a failure is recorded and the next runs):

1. **matmul peak**: measured bf16 and fp32 (TF32 off) matmul rate, beside the nominal dense bf16
   peak of known GPUs.
2. **time series, L = 384**: `transfusion-paper` (the published post-LN network, fp32: it stands
   in for the official code, which it matches on a CPU: 30.0 vs 29.7 windows/s at L = 100, 3.10
   vs 3.19 at L = 384) against `base` (same size, tfusion's blocks) and `small` under
   `train.bf16=auto`, trained by tfusion's own loop (`fit`: autocast, EMA, AdamW, clipping) on
   generated sines; windows/s of the last logged interval, model FLOP/s (matmuls, forward +
   backward = 3 x forward) against the bf16 peak, peak GPU memory. Target: base >= 10x paper.
   Then the published recipe's batch (256, fp32) whole and as train.accumulate=8 (micro-batches
   of 32): the same step, its peak memory against the whole batch's; and a batch of 1024 with
   train.accumulate=auto (a real out-of-memory error, then the micro-batch count that fits).
3. **DiT-B/2 at 32 x 32 x 4, batch 256**: the same loop on random latents; images/s and the
   share of the bf16 peak. Target: >= 40% of the dense bf16 peak.
4. **kill and resume, every family** (`tfusion train` in a subprocess, SIGKILL after its first
   checkpoint, `--resume` to the end): the time-series model on sines, DiT on the bundled MNIST
   digits, Transfusion on the shapes set; each then samples on the GPU (timed) and on the CPU
   (a GPU-trained run must sample there too).

Prints one table and writes JSON (`--out`, default benchmarks/results/gpu_check.json) after
every section, so a run cut short keeps what finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speed import train_flops
from tfusion.config import TrainConfig
from tfusion.devices import resolve_device, resolve_precision, to_device
from tfusion.diffusion import Objective, Schedule, diffusion_loss
from tfusion.dit.model import DiT, DiTShape, dit_flops_per_image
from tfusion.timeseries.presets import TIMESERIES_PRESETS
from tfusion.training.loop import fit

# dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets
NOMINAL_BF16_TFLOPS = {
    "H100 SXM": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
    "L4": 121.0,
}
OFFICIAL_PAPER_RATIO_TARGET = 10.0
DIT_MFU_TARGET = 0.40


def nominal_peak(name: str) -> float | None:
    """The data-sheet dense bf16 peak of a GPU name, TFLOP/s (None when unknown)."""
    n = name.upper()
    if "H100" in n:
        kind = "H100 PCIe" if "PCIE" in n else "H100 NVL" if "NVL" in n else "H100 SXM"
        return NOMINAL_BF16_TFLOPS[kind]
    for key, value in NOMINAL_BF16_TFLOPS.items():
        if key.upper() in n:
            return value
    return None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, reps: int = 10) -> float:
    """Best-of TFLOP/s of an n x n matmul on `device` (TF32 off for fp32)."""
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        a @ b
        sync(device)
        best = 0.0
        for _ in range(reps):
            t0 = time.perf_counter()
            a @ b
            sync(device)
            best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e12)
        return best
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return None


def steady_rate(run: Path) -> float:
    """Items/s of the last logged interval (the first interval holds the warm-up)."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return float(rows[-1]["windows_per_s"])


def train_cfg(steps: int, batch: int, device: str, bf16: bool | str, **kw: Any) -> TrainConfig:
    log = max(steps // 2, 1)
    return TrainConfig(
        steps=steps,
        batch_size=batch,
        lr=1e-4,
        warmup=min(10, steps - 1),
        device=device,
        bf16=bf16,
        log_every=log,
        checkpoint_every=10**9,
        progress=False,
        **kw,
    )


def time_timeseries(
    preset: str,
    length: int,
    batch: int,
    steps: int,
    device: str,
    bf16: bool | str,
    work: Path,
    accumulate: int | str = 1,
) -> dict[str, Any]:
    """One time-series model trained by `fit` on random windows (speed only); `accumulate`
    micro-batches per step."""
    from tfusion.timeseries.model import TimeSeriesDenoiser

    p = TIMESERIES_PRESETS[preset]
    features = 6
    torch.manual_seed(0)
    dropout = 0.1 if p["arch"] == "paper" else 0.0  # the published network keeps its dropout
    model = TimeSeriesDenoiser(
        features, p["width"], p["depth"], p["heads"], p["ff"], dropout, p["arch"]
    )
    data = torch.rand(2048, length, features) * 2 - 1
    sched, obj = Schedule.create("cosine", 1000), Objective("v")

    def loss_fn(m: torch.nn.Module, gen: torch.Generator, world: Any) -> torch.Tensor:
        idx = world.shard(torch.randint(len(data), (batch,), generator=gen))
        x0 = to_device(data[idx], next(m.parameters()).device)
        return diffusion_loss(m, x0, sched, obj, gen, world)

    run = Path(tempfile.mkdtemp(dir=work))
    dev = resolve_device(device)[0]
    reset_memory(dev)
    cfg = train_cfg(steps, batch, device, bf16, accumulate=accumulate)
    result = fit(model, loss_fn, cfg, run, {})
    rate = steady_rate(run)
    flops = train_flops(p["width"], p["depth"], p["ff"], length, 1)  # per window
    return {
        "preset": preset,
        "arch": p["arch"],
        "length": length,
        "batch": batch,
        "accumulate": json.loads((run / "training.json").read_text())["accumulate"],
        "precision": result.precision,
        "windows_per_s": rate,
        "tflops": rate * flops / 1e12,
        "peak_mem_gb": peak_memory_gb(dev),
    }


def time_dit(name: str, batch: int, steps: int, device: str, work: Path) -> dict[str, Any]:
    """DiT training on random 32 x 32 x 4 latents by `fit` (speed only)."""
    torch.manual_seed(0)
    shape = DiTShape.preset(name, image_size=32, channels=4, num_classes=1000)
    model = DiT(shape)
    data = torch.randn(1024, 4, 32, 32)
    labels = torch.randint(0, 1000, (1024,))
    sched, obj = Schedule.create("linear", 1000), Objective("eps")

    def loss_fn(m: torch.nn.Module, gen: torch.Generator, world: Any = None) -> torch.Tensor:
        idx = torch.randint(len(data), (batch,), generator=gen)
        x0 = to_device(data[idx], next(m.parameters()).device)
        return diffusion_loss(
            m, x0, sched, obj, gen, None, labels[idx], cond_dropout=0.1, null_cond=1000
        )

    run = Path(tempfile.mkdtemp(dir=work))
    dev = resolve_device(device)[0]
    reset_memory(dev)
    cfg = train_cfg(steps, batch, device, "auto", betas=(0.9, 0.999), ema_decay=0.9999)
    result = fit(model, loss_fn, cfg, run, {})
    rate = steady_rate(run)
    return {
        "model": name,
        "batch": batch,
        "precision": result.precision,
        "images_per_s": rate,
        "tflops": rate * 3 * dit_flops_per_image(shape) / 1e12,
        "peak_mem_gb": peak_memory_gb(dev),
    }


def train_kill_resume(
    run: Path, family: str, overrides: list[str], steps: int, every: int, device: str, limit: float
) -> dict[str, Any]:
    """`tfusion train` to its first checkpoint, SIGKILL, `--resume` to the end."""
    cmd = [sys.executable, "-m", "tfusion", "train", "--out", str(run)]
    config: list[str] = []
    if family != "timeseries":  # the time-series config is the default and has no family key
        cfg = run.parent / f"{run.name}.yaml"
        cfg.write_text(f"family: {family}\n")
        config = ["--config", str(cfg)]
    sets = [
        *overrides,
        f"train.steps={steps}",
        f"train.checkpoint_every={every}",
        f"train.log_every={max(every // 2, 1)}",
        f"train.device={device}",
        "train.progress=false",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*cmd, *config, *sets],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    killed_at = None
    while proc.poll() is None and time.perf_counter() - t0 < limit:
        if (run / "train_state.pt").exists():
            proc.send_signal(signal.SIGKILL)
            killed_at = torch.load(run / "train_state.pt", weights_only=True)["step"]
            break
        time.sleep(0.2)
    proc.wait()
    first = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    if killed_at is None:
        why = f"exited {proc.returncode}" if proc.returncode else f"no checkpoint in {limit:.0f} s"
        raise RuntimeError(f"{family}: {why}; output:\n{first[-2000:]}")
    p = subprocess.run(
        [*cmd, "--resume", f"train.device={device}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=limit,
    )
    if p.returncode:
        raise RuntimeError(f"resume failed ({p.returncode}): {p.stdout[-1500:]}{p.stderr[-1500:]}")
    state = torch.load(run / "train_state.pt", weights_only=True)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [r["step"] for r in rows]
    ok = state["step"] == steps and logged == sorted(set(logged)) and logged[-1] == steps
    return {
        "killed_at_step": int(killed_at),
        "final_step": int(state["step"]),
        "metrics_in_order": logged == sorted(set(logged)),
        "ok": bool(ok),
        "train_resume_s": time.perf_counter() - t0,
        "line": p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "",
    }


def timed(fn: Any, device: torch.device) -> tuple[Any, float]:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def families_kill_resume(device: str, work: Path, smoke: bool) -> dict[str, Any]:
    from tfusion.dit.sample import DiTRun
    from tfusion.multimodal.decode import load_multimodal
    from tfusion.timeseries.sample import TimeSeriesRun

    dev = resolve_device(device)[0]
    out: dict[str, Any] = {}
    steps, every, limit = (300, 30, 300.0) if smoke else (300, 100, 240.0)
    length = 24 if smoke else 384
    ts = work / "ts"
    ts_over = [
        "data.source=sine",
        "data.sine_samples=256",
        "data.sine_features=6",
        f"data.window={length}",
        "model.preset=tiny" if smoke else "model.preset=small",
        "train.batch_size=8" if smoke else "train.batch_size=64",
    ]
    r = train_kill_resume(ts, "timeseries", ts_over, steps, every, device, limit)
    n = 8 if smoke else 256
    run = TimeSeriesRun.load(ts, device=dev)
    x, s = timed(lambda: run.generate(n, seed=1), dev)
    cpu = TimeSeriesRun.load(ts, device="cpu").generate(4, seed=1)
    r.update(
        sample_n=n,
        sample_s=s,
        sample_finite=bool(np.isfinite(x).all()),
        cpu_sample_finite=bool(np.isfinite(cpu).all()),
    )
    out["timeseries"] = r

    dit = work / "dit"
    dit_over = [
        "data.source=mnist",
        "model.preset=DiT-XS/7",
        "train.batch_size=8" if smoke else "train.batch_size=256",
        "sample.steps=5" if smoke else "sample.steps=20",
    ]
    r = train_kill_resume(dit, "dit", dit_over, steps, every, device, limit)
    dr = DiTRun.load(dit, device=dev)
    labels = np.arange(n) % len(dr.classes)
    imgs, s = timed(lambda: dr.generate(labels, seed=1), dev)
    cpu_img = DiTRun.load(dit, device="cpu").generate(labels[:2], seed=1)
    r.update(
        sample_n=n,
        sample_s=s,
        sample_finite=bool(np.isfinite(imgs).all()),
        cpu_sample_finite=bool(np.isfinite(cpu_img).all()),
    )
    out["dit"] = r

    mm = work / "mm"
    mm_over = [
        "data.source=shapes",
        "data.size=16",
        "data.samples=2000",
        "model.width=64" if smoke else "model.width=192",
        "model.depth=2" if smoke else "model.depth=4",
        "model.heads=4",
        "model.patch=4",
        "train.batch_size=8" if smoke else "train.batch_size=128",
        "sample.steps=5" if smoke else "sample.steps=25",
    ]
    r = train_kill_resume(mm, "multimodal", mm_over, steps, every, device, limit)
    gen = load_multimodal(mm, device=dev)
    k = 2 if smoke else 16
    prompts = ["a red circle at the top left"] * k
    pics, s = timed(lambda: gen.text_to_image(prompts, 3.0, "dpm++", 25), dev)
    cpu_pics = load_multimodal(mm, device="cpu").text_to_image(["a blue square"], 3.0, "dpm++", 5)
    r.update(
        sample_n=k,
        sample_s=s,
        sample_finite=bool(np.isfinite(np.asarray(pics)).all()),
        cpu_sample_finite=bool(np.isfinite(np.asarray(cpu_pics)).all()),
    )
    out["multimodal"] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: every code path, any device")
    ap.add_argument("--out", default="benchmarks/results/gpu_check.json")
    ap.add_argument("--skip", nargs="*", default=[], help="sections to skip: peak ts dit families")
    args = ap.parse_args()
    device, why = resolve_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    result: dict[str, Any] = {
        "device": str(device),
        "why": why,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "host": platform.node(),
        "smoke": args.smoke,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        result.update(gpu=props.name, gpu_mem_gb=props.total_memory / 2**30)
        result["nominal_bf16_tflops"] = nominal_peak(props.name)
    result["precision_auto"] = resolve_precision("auto", device).name
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    def save() -> None:
        result["total_s"] = time.perf_counter() - t_start
        out.write_text(json.dumps(result, indent=2))

    def section(name: str, fn: Any) -> None:
        if name in args.skip:
            return
        t0 = time.perf_counter()
        try:
            result[name] = fn()
        except Exception as e:  # record it, run the next section
            result[name] = {"error": f"{type(e).__name__}: {e}"}
        print(f"[{name}: {time.perf_counter() - t0:.0f} s]", flush=True)
        save()

    n = 1024 if args.smoke else 8192
    section(
        "peak",
        lambda: {
            "bf16_tflops": matmul_peak(device, torch.bfloat16, n),
            "fp32_tflops": matmul_peak(device, torch.float32, n),
        },
    )
    peak = (result.get("peak") or {}).get("bf16_tflops")
    nominal = result.get("nominal_bf16_tflops") or peak

    L, B, S = (24, 8, 6) if args.smoke else (384, 32, 60)
    dev = args.device

    def ts_rows() -> list[dict[str, Any]]:
        rows = [
            time_timeseries("transfusion-paper", L, B, S, dev, False, work),
            time_timeseries("base", L, B, S, dev, "auto", work),
            time_timeseries("small", L, B, S, dev, "auto", work),
        ]
        if not args.smoke:  # the batch a GPU wants
            rows.append(time_timeseries("base", L, 256, S // 2, dev, "auto", work))
        # the published recipe's batch of 256 in fp32 (~47 GB), whole and in 8 micro-batches
        pb = 16 if args.smoke else 256
        for k in (1, 8):
            rows.append(time_timeseries("transfusion-paper", L, pb, 6, dev, False, work, k))
        if not args.smoke:  # ~190 GB whole: auto must find the micro-batches that fit
            rows.append(time_timeseries("transfusion-paper", L, 1024, 4, dev, False, work, "auto"))
        paper = rows[0]["windows_per_s"]
        for r in rows:
            r["vs_paper"] = r["windows_per_s"] / paper
            r["pct_bf16_peak"] = 100 * r["tflops"] / nominal if nominal else None
        return rows

    section("ts", ts_rows)

    def dit_row() -> dict[str, Any]:
        name, batch, steps = ("DiT-Mini/2", 8, 6) if args.smoke else ("DiT-B/2", 256, 40)
        r = time_dit(name, batch, steps, dev, work)
        r["pct_bf16_peak"] = 100 * r["tflops"] / nominal if nominal else None
        r["pct_measured_peak"] = 100 * r["tflops"] / peak if peak else None
        return r

    section("dit", dit_row)
    section("families", lambda: families_kill_resume(dev, work, args.smoke))
    print_table(result)


def print_table(r: dict[str, Any]) -> None:
    print(f"\ndevice {r['device']} ({r.get('gpu', 'cpu')}), torch {r['torch']}, CUDA {r['cuda']}")
    peak = r.get("peak") or {}
    if "bf16_tflops" in peak:
        print(
            f"matmul peak: bf16 {peak['bf16_tflops']:.1f} TFLOP/s, fp32 {peak['fp32_tflops']:.1f}"
            f" (nominal dense bf16: {r.get('nominal_bf16_tflops')})"
        )
    print("\n| job | precision | items/s | TFLOP/s | % bf16 peak | peak mem GB | vs paper |")
    print("|---|---|---|---|---|---|---|")
    for row in r.get("ts", []) if isinstance(r.get("ts"), list) else []:
        pct = row.get("pct_bf16_peak")
        mem = row.get("peak_mem_gb")
        k = row.get("accumulate", 1)
        micro = f" (x{k} micro)" if k > 1 else ""
        print(
            f"| {row['preset']} L={row['length']} b={row['batch']}{micro} | "
            f"{row['precision']} | "
            f"{row['windows_per_s']:.1f} win/s | {row['tflops']:.2f} | "
            f"{'' if pct is None else f'{pct:.1f}'} | {'' if mem is None else f'{mem:.2f}'} | "
            f"{row['vs_paper']:.1f}x |"
        )
    d = r.get("dit") or {}
    if "images_per_s" in d:
        pct, mem = d.get("pct_bf16_peak"), d.get("peak_mem_gb")
        print(
            f"| {d['model']} 32x32x4 b={d['batch']} | {d['precision']} | "
            f"{d['images_per_s']:.1f} img/s | {d['tflops']:.2f} | "
            f"{'' if pct is None else f'{pct:.1f}'} | {'' if mem is None else f'{mem:.2f}'} | |"
        )
    fam = r.get("families") or {}
    if "error" in fam:
        print(f"\nfamilies: {fam['error']}")
    for name, row in fam.items() if "error" not in fam else []:
        print(
            f"{name}: killed at step {row['killed_at_step']}, resumed to {row['final_step']} "
            f"(ok {row['ok']}); {row['sample_n']} samples in {row['sample_s']:.2f} s; "
            f"CPU sample finite {row['cpu_sample_finite']}; {row['line']}"
        )
    for key in ("peak", "ts", "dit"):
        if isinstance(r.get(key), dict) and "error" in r[key]:
            print(f"{key}: {r[key]['error']}")
    print(f"total {r.get('total_s', 0):.0f} s")


if __name__ == "__main__":
    main()
