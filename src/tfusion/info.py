"""`tfusion info`: the families and their presets, samplers, schedules, objectives and data sets;
`tfusion info RUN`: what one run is (family, preset, parameters, data, steps, sampler defaults)."""

from __future__ import annotations

from pathlib import Path

import torch

from tfusion import __version__, families
from tfusion.data.builtin import list_builtin
from tfusion.devices import describe as device_rows
from tfusion.diffusion.objectives import LOSSES, PREDICTIONS
from tfusion.diffusion.samplers import SAMPLERS
from tfusion.diffusion.schedules import BETA_SCHEDULES, SPACINGS
from tfusion.precision import bf16_probe, cpu_model
from tfusion.runs import summarise


def describe() -> str:
    """A plain-text listing for the terminal."""
    lines = [f"tfusion {__version__}", "", "families (`family:` in a config; `tfusion demo NAME`):"]
    table = [families.get(name) for name in families.names()]
    lines += [f"  {fam.name:<11} {fam.title}" for fam in table]
    for fam in table:
        lines += ["", *fam.presets()]
    lines += ["", f"samplers: {', '.join(SAMPLERS)}", f"schedules: {', '.join(BETA_SCHEDULES)}"]
    lines += [f"step spacings: {', '.join(SPACINGS)} (sample.spacing, --spacing)"]
    lines += [f"predictions: {', '.join(PREDICTIONS)}; losses: {', '.join(LOSSES)}", ""]
    lines.append("built-in data:")
    lines += [f"  {name:<6} {text}" for name, text in list_builtin()]
    probe = bf16_probe()
    verdict = "bf16 autocast is used where asked" if probe.fast else "bf16 requests run in fp32"
    lines += [
        "",
        f"machine: {cpu_model()}, {torch.get_num_threads()} threads; matmul "
        f"{probe.fp32_gflops:.0f} GFLOP/s fp32, {probe.bf16_gflops:.1f} bf16 ({verdict})",
        "",
        "device and precision here (train.device=auto, train.bf16=auto; --device on the verbs):",
    ]
    lines += [f"  {what:<19} {decision:<8} {why}" for what, decision, why in device_rows()]
    return "\n".join(lines)


def describe_run(run: str | Path) -> str:
    """What a run folder is: family, steps trained, parameters, then the family's own lines."""
    s = summarise(run)
    fam = families.get(s.family)
    planned = f" of {s.steps_planned}" if s.steps_planned else ""
    loss = f", last logged loss {s.last_loss:.4f}" if s.last_loss is not None else ""
    if s.stopped_by == "max_seconds":
        loss += f"; stopped by its time budget, train.max_seconds={s.max_seconds:g}"
    if s.global_batch:
        loss += f"; batch {s.global_batch} per step"
        if s.accumulate and s.accumulate > 1:
            loss += f" in {s.accumulate} micro-batches"
    lines = [
        f"run: {s.path}",
        f"family: {fam.name} ({fam.title})",
        f"trained: {s.steps_trained}{planned} steps{loss}",
        f"parameters: {s.parameters:,} ({s.parameters / 1e6:.2f} M)",
        *fam.describe(s.path),
        f"files: {', '.join(s.files)}",
    ]
    train = fam.saved_config(s.path).train
    lines.append(
        f"here (train.device={train.device}, train.bf16={str(train.bf16).lower()}; sampling: "
        "--device):"
    )
    rows = device_rows(train.device, train.bf16)
    lines += [f"  {what:<19} {decision:<8} {why}" for what, decision, why in rows]
    return "\n".join(lines)
