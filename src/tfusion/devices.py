"""Where a job runs and in which precision: `train.device` / `--device` and `train.bf16`.

**Device.** `auto` takes CUDA when a CUDA GPU is visible (under torchrun, the GPU of the
process's LOCAL_RANK), else Apple's MPS, else the CPU; `cpu`, `cuda`, `cuda:N` and `mps` ask for
one. Asking for a device that is not there is a one-line error, never a silent fallback.

**Precision** (`train.bf16`: `auto`, the default, `true` or `false`):

| device | auto | true | false |
|---|---|---|---|
| CUDA with bf16 (capability >= 8: A100, H100, RTX 30xx+) | bf16 autocast | bf16 | fp32 (strict) |
| CUDA without bf16 (V100, T4) | fp16 autocast + gradient scaling | fp16 + scaling | fp32 (strict) |
| CPU with AVX512-BF16 / AMX / Arm BF16 | bf16 autocast | bf16 | fp32 |
| CPU without bf16 units (AVX2) | fp32 (bf16 is emulated, ~150x slower) | fp32 + a note | fp32 |
| MPS | fp32 | bf16 | fp32 |

On GPUs with TF32 units (compute capability >= 8) the fp32 matmuls left outside autocast use
TF32, except with `train.bf16=false`, which asks for strict fp32 everywhere (as the published
TransFusion code trains).
Weights, optimiser moments and the EMA stay fp32 in every case: autocast only lowers the matmuls
and attention, and the diffusion math (schedules, samplers, losses) runs in fp32.

Every random draw of training (batches, diffusion times, noise) stays on a CPU generator and is
copied to the device, so a run draws the same numbers on every device, and a run trained on a
GPU resumes on a CPU (or the other way round) with the same random stream.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tfusion import precision as cpu_precision
from tfusion.errors import ConfigError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def _cuda_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _no_cuda_reason() -> str:
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is a CPU build"
    return "torch.cuda.is_available() is False (no GPU visible or no driver)"


def local_rank() -> int:
    """This process's index on its node under torchrun (0 otherwise)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def resolve_device(spec: str = "auto") -> tuple[torch.device, str]:
    """The device `spec` names and why it was chosen; a one-line ConfigError when the device
    is missing or the name is not one of DEVICE_CHOICES."""
    s = str(spec).strip().lower()
    count = _cuda_count()
    if s == "auto":
        if count:
            index = local_rank() % count
            return torch.device("cuda", index), f"auto: CUDA present ({count} GPU)"
        if _mps_available():
            return torch.device("mps"), "auto: Apple MPS present, no CUDA"
        return torch.device("cpu"), f"auto: no CUDA GPU ({_no_cuda_reason()}) and no MPS"
    if s == "cpu":
        return torch.device("cpu"), "asked for"
    if s == "mps":
        if not _mps_available():
            raise ConfigError(
                "device mps: Apple's MPS backend is not available here; use device=auto or cpu"
            )
        return torch.device("mps"), "asked for"
    if s == "cuda" or s.startswith("cuda:"):
        if s != "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError(
                f"device {spec}: under torchrun each process takes the GPU of its LOCAL_RANK; "
                "use device=cuda or auto (pick GPUs with CUDA_VISIBLE_DEVICES)"
            )
        if not count:
            raise ConfigError(
                f"device {spec}: no CUDA GPU is visible ({_no_cuda_reason()}); "
                "use device=auto or cpu"
            )
        if s == "cuda":
            return torch.device("cuda", local_rank() % count), "asked for"
        index = s.split(":", 1)[1]
        if not index.isdigit() or int(index) >= count:
            raise ConfigError(
                f"device {spec}: this machine has CUDA devices 0-{count - 1}; "
                f"use one of cuda:0 ... cuda:{count - 1}"
            )
        return torch.device("cuda", int(index)), "asked for"
    raise ConfigError(f"device {spec!r} is not one of {DEVICE_CHOICES}")


@dataclass(frozen=True)
class Precision:
    """The autocast a job runs under on one device."""

    device: torch.device
    dtype: torch.dtype | None  # the autocast dtype; None = plain fp32
    reason: str
    tf32: bool = False  # fp32 matmuls on TF32 units (CUDA, compute capability >= 8)

    @property
    def name(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.dtype, "fp32")  # type: ignore[arg-type]

    @property
    def scaled(self) -> bool:
        """fp16 gradients need loss scaling (bf16 has fp32's exponent range)."""
        return self.dtype == torch.float16

    def autocast(self) -> torch.autocast:
        """The autocast context of this precision (disabled for fp32)."""
        return torch.autocast(
            self.device.type, dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None
        )


def _cuda_bf16(device: torch.device) -> bool:
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def parse_bf16(value: bool | str) -> bool | None:
    """`train.bf16` as True / False / None (auto)."""
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() == "auto":
        return None
    raise ConfigError(f"train.bf16 must be auto, true or false, got {value!r}")


def resolve_precision(bf16: bool | str, device: torch.device) -> Precision:
    """The precision `train.bf16` (auto / true / false) gives on `device` (see module table)."""
    want = parse_bf16(bf16)
    if device.type == "cuda":
        tf32 = _cuda_bf16(device)
        name = torch.cuda.get_device_name(device)
        if want is False:  # strict fp32: no TF32 either
            return Precision(device, None, f"bf16 off (strict fp32); {name}", False)
        if _cuda_bf16(device):
            return Precision(device, torch.bfloat16, f"{name} computes bf16 natively", tf32)
        return Precision(
            device, torch.float16, f"{name} has no bf16: fp16 with gradient scaling", tf32
        )
    if device.type == "mps":
        if want:
            return Precision(device, torch.bfloat16, "asked for (MPS)")
        return Precision(device, None, "MPS: fp32 unless train.bf16=true")
    if want is False:
        return Precision(device, None, "bf16 off")
    probe = cpu_precision.bf16_probe()
    if probe.fast:
        return Precision(
            device, torch.bfloat16, f"{cpu_precision.cpu_model()} has native bf16 matmul units"
        )
    why = (
        f"{cpu_precision.cpu_model()} has no native bf16 matmul (measured "
        f"{probe.bf16_gflops:.1f} GFLOP/s in bf16 vs {probe.fp32_gflops:.0f} in fp32)"
    )
    return Precision(device, None, why)


def configure_matmuls(precision: Precision) -> None:
    """TF32 for fp32 matmuls and convolutions on CUDA devices that have it; off for strict fp32."""
    if precision.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision.tf32
        torch.backends.cudnn.allow_tf32 = precision.tf32


def device_of(model: nn.Module) -> torch.device:
    """The device of a model's parameters (the CPU for a model without any)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """`x` on `device`; a host-to-GPU copy goes through pinned memory without blocking."""
    if x.device == device:
        return x
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def describe(spec: str = "auto", bf16: bool | str = "auto") -> list[tuple[str, str, str]]:
    """(what, decision, why) rows for `tfusion info`: the device and precision `spec` and
    `bf16` give here, for training and for sampling."""
    try:
        device, why = resolve_device(spec)
    except ConfigError as e:
        return [("device", "unavailable", str(e))]
    rows = [("device", str(device), why)]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        rows.append(("GPU", props.name, f"{props.total_memory / 2**30:.0f} GiB"))
    p = resolve_precision(bf16, device)
    rows.append(("training precision", p.name, f"train.bf16={bf16}: {p.reason}"))
    if p.tf32:
        rows.append(("fp32 matmuls", "tf32", "GPU has TF32 units"))
    rows.append(("sampling precision", "fp32", "default; --bf16 for bf16 autocast"))
    return rows


def sampling_autocast(bf16: bool, device: torch.device, what: str = "sampling") -> torch.autocast:
    """The autocast of `--bf16` sampling on `device`: bf16 where the device computes it
    natively (on a CPU without bf16 units a one-line note and fp32), else fp32."""
    from tfusion.precision import use_bf16

    if device.type == "cuda":
        on = bf16 and _cuda_bf16(device)
    elif device.type == "cpu":
        on = use_bf16(bf16, what)
    else:
        on = bf16
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on)


def load_device(spec: str | torch.device | None) -> torch.device:
    """The device a loaded run goes to: None is the CPU (loading alone never picks a GPU),
    a string goes through `resolve_device`."""
    if spec is None:
        return torch.device("cpu")
    if isinstance(spec, torch.device):
        return spec
    return resolve_device(spec)[0]
