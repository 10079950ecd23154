"""Whether bf16 autocast pays on this CPU, measured once per process.

bf16 autocast is the big speed lever on CPUs with native bf16 matrix units (AVX512-BF16, AMX,
Arm's BF16 extension): 4x the fp32 matmul rate was measured on such a machine. On a CPU without
them PyTorch emulates bf16 matmuls, and the same switch becomes a disaster: on an AVX2-only AMD
EPYC (measured 2026-12-04) a bf16 matmul ran at 0.8 GFLOP/s against 121 in fp32, 150x slower. So
on a CPU `train.bf16` (auto by default) / `--bf16` mean "bf16 where the CPU is faster in it": when
it is not, tfusion runs fp32 (and says so in one line when bf16 was asked for explicitly).
`tfusion.devices` makes the decision for every device; this module measures the CPU.
"""

from __future__ import annotations

import functools
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

PROBE_SIZE = 192  # 14 MFLOP per product: ~0.1 ms in native bf16, ~20 ms emulated


@dataclass(frozen=True)
class Bf16Probe:
    """Measured matmul rates (GFLOP/s) of a PROBE_SIZE square product in fp32 and bf16, and
    what the CPU's feature flags say (None where the OS does not tell)."""

    fp32_gflops: float
    bf16_gflops: float
    native: bool | None = None

    @property
    def fast(self) -> bool:
        """bf16 pays on CPUs with native bf16 units. Where the flags are known they decide (a
        timing is at the mercy of whatever else runs on the machine); elsewhere bf16 must beat
        fp32 in the timing (native units are 2-5x faster, emulation 10-150x slower, so the
        threshold is far from both)."""
        if self.native is not None:
            return self.native
        return self.bf16_gflops > self.fp32_gflops


def native_bf16_flags(cpuinfo: str | None = None) -> bool | None:
    """Whether the CPU flags announce bf16 matrix units: x86 `avx512_bf16` or `amx_bf16`, Arm
    `bf16`. None when /proc/cpuinfo is unreadable or names no flags (macOS, Windows)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags = set(value.split())
            return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
    return None


def _rate(dtype: torch.dtype, n: int, reps: int = 3) -> float:
    # a private generator: the probe runs inside training (first use of train.bf16=auto) and
    # must not move the global one (dropout masks; it once made the first run of a process
    # differ from the next ones)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    a @ b  # warm-up: kernel selection, thread pool, page faults
    a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / max(best, 1e-9) / 1e9


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (bf16 speed depends on it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@functools.cache
def bf16_probe() -> Bf16Probe:
    """Measure fp32 and bf16 matmul rates once per process (well under a second)."""
    with torch.no_grad():
        fp32, bf16 = _rate(torch.float32, PROBE_SIZE), _rate(torch.bfloat16, PROBE_SIZE)
    return Bf16Probe(fp32, bf16, native_bf16_flags())


_warned: set[str] = set()


def use_bf16(requested: bool, what: str = "this run", quiet: bool = False) -> bool:
    """True when bf16 autocast was asked for and this CPU computes bf16 faster than fp32.

    When it was asked for but would be slower, print one notice (once per `what`) and return
    False, so the caller runs in fp32. `quiet` skips the notice (other ranks of a job)."""
    if not requested:
        return False
    probe = bf16_probe()
    if probe.fast:
        return True
    if not quiet and what not in _warned:
        _warned.add(what)
        print(
            f"note: bf16 requested, but this CPU has no native bf16 matmul (measured "
            f"{probe.bf16_gflops:.1f} GFLOP/s in bf16 vs {probe.fp32_gflops:.0f} in fp32); "
            f"{what} runs in fp32"
        )
    return False
