"""Generate windows from a trained time-series run and write them in the original units."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tfusion import runs
from tfusion.data import Scaler
from tfusion.data.codec import PanelCodec
from tfusion.devices import device_of, load_device, sampling_autocast
from tfusion.diffusion import (
    Objective,
    RowStreams,
    SampleSettings,
    Schedule,
    row_generators,
    sample_loop,
)
from tfusion.diffusion.guidance import classifier_free_guidance
from tfusion.errors import ConfigError
from tfusion.io import CSV_FLOAT, atomic_path, check_out_path, csv_header
from tfusion.timeseries.config import RunConfig, sample_clip
from tfusion.timeseries.model import TimeSeriesDenoiser
from tfusion.timeseries.train import make_diffusion, saved_config
from tfusion.training.checkpoint import load_weights


@dataclass
class TimeSeriesRun:
    """A trained run, ready to sample: config, network (eval mode), diffusion and data state."""

    path: Path
    cfg: RunConfig
    model: TimeSeriesDenoiser
    schedule: Schedule
    objective: Objective
    scaler: Scaler
    columns: tuple[str, ...]
    window: int
    classes: tuple[str, ...] = ()  # a labelled run's class names (data.label)
    codec: PanelCodec | None = None  # panels: categories, attributes, whole-sequence lengths

    @classmethod
    def load(
        cls, run: str | Path, ema: bool = True, device: str | torch.device | None = None
    ) -> TimeSeriesRun:
        """Load a run folder; `ema` picks the EMA weights (default) or the raw ones; the model
        goes to `device` (auto, cpu, cuda, cuda:N, mps; default the CPU), wherever the run
        was trained."""
        path = runs.open_run(run)
        cfg = saved_config(path)
        scaler, columns, classes, codec, window = runs.read_data_state(
            path,
            lambda s: (
                Scaler.from_dict(s["scaler"]),
                tuple(s["columns"]),
                tuple(str(c) for c in s.get("classes", [])),
                PanelCodec.from_dict(s["codec"]) if s.get("codec") else None,
                int(s["window"]),
            ),
        )
        attributes = 0 if codec is None else codec.attribute_dim
        model = TimeSeriesDenoiser.from_config(cfg.model, len(columns), len(classes), attributes)
        load_weights(model, runs.weights_path(path, ema))
        model.eval().to(load_device(device))
        schedule, objective = make_diffusion(cfg)
        return cls(path, cfg, model, schedule, objective, scaler, columns, window, classes, codec)

    @property
    def device(self) -> torch.device:
        """Where the model is (`load(device=...)`, or `run.model.to(...)`)."""
        return device_of(self.model)

    def settings(self) -> SampleSettings:
        """The run's own sampling settings (sample section, its clip resolved for the scaler)."""
        return SampleSettings.from_section(replace(self.cfg.sample, clip=sample_clip(self.cfg)))

    def class_ids(self, labels: Sequence[str | int]) -> np.ndarray:
        """Class ids of label names (as in the data's label column) or of ids given as ints."""
        if not self.classes:
            raise ConfigError(
                f"run {self.path} was trained without labels; train with data.label=COLUMN "
                "to sample by label"
            )
        ids = []
        label = self.cfg.data.label or ""
        for v in labels:  # ints are class ids, text is a label as written in the data
            name = str(v).strip()
            if self.codec is not None:  # bool labels are asked for as written: True / False
                name = str(self.codec.as_stored(label, name))
            if isinstance(v, int | np.integer) and not isinstance(v, bool):
                if not 0 <= int(v) < len(self.classes):
                    raise ConfigError(
                        f"class id {int(v)} is out of range; this run has {len(self.classes)} "
                        f"classes (0..{len(self.classes) - 1})"
                    )
                ids.append(int(v))
            elif name in self.classes:
                ids.append(self.classes.index(name))
            else:
                shown = ", ".join(self.classes[:20]) + (" ..." if len(self.classes) > 20 else "")
                raise ConfigError(f"unknown label {name!r}; this run's labels are: {shown}")
        return np.asarray(ids, dtype=np.int64)

    def generate(
        self,
        n: int,
        sampler: str | None = None,
        steps: int | None = None,
        seed: int = 0,
        eta: float | None = None,
        length: int | None = None,
        batch_size: int | None = None,
        scaled: bool = False,
        progress: bool = False,
        bf16: bool = False,
        labels: Sequence[str | int] | np.ndarray | None = None,
        guidance: float | None = None,
        spacing: str | None = None,
    ) -> np.ndarray:
        """n windows (n, L, C); in original units unless `scaled` (then in the model's [-1, 1]).

        `spacing` overrides the run's sample.spacing (the step grid, see Schedule.timesteps).

        A labelled run takes `labels` (one per window, or one for all: names or class ids) and
        samples with classifier-free guidance `guidance` (default sample.guidance); without
        labels it samples the unconditional model (every class, in the data's proportions).

        Window i draws all its noise from Generator(seed + i), so `batch_size` and the device
        change nothing but float rounding."""
        sc = self.cfg.sample
        if n < 1:
            raise ConfigError(f"--n must be at least 1, got {n}")
        if self.codec is not None and self.codec.attribute_dim:
            raise ConfigError(
                f"run {self.path} learned attributes or lengths with its sequences; sample it "
                "with --entities N (a table) or TimeSeriesRun.generate_panel"
            )
        if length is not None and length < 1:
            raise ConfigError(f"--length must be at least 1, got {length}")
        length = length or self.window
        if guidance is not None and guidance != 1.0 and not self.classes:
            raise ConfigError(
                f"--guidance steers toward labels, and run {self.path} learned none "
                "(data.label): leave --guidance out"
            )
        settings = self.settings().override(
            sampler=sampler, steps=steps, eta=eta, spacing=spacing, guidance=guidance
        )
        bs = batch_size or sc.batch_size
        out = []

        ids = None
        if labels is not None:
            ids = self.class_ids([labels] if isinstance(labels, str | int) else list(labels))
            if len(ids) == 1:
                ids = np.repeat(ids, n)
            if len(ids) != n:
                raise ConfigError(f"got {len(ids)} labels for {n} windows; give 1 or {n}")
        device = self.device
        autocast = sampling_autocast(bf16, device)

        def net(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
            with autocast:
                return self.model(x, t, y)

        for start in range(0, n, bs):
            b = min(bs, n - start)
            shape = (b, length, len(self.columns))
            denoise = net
            if ids is not None:
                y = torch.from_numpy(ids[start : start + b])
                null = torch.full_like(y, len(self.classes))
                denoise = classifier_free_guidance(net, y, null, settings.guidance)
            x = sample_loop(
                denoise,
                shape,
                self.schedule,
                self.objective.prediction,
                settings,
                # window i draws all its noise from its own stream (seed + i): the same window
                # at any batch size, on any device
                generator=row_generators(range(seed + start, seed + start + b)),
                progress=progress,
                device=device,
            )
            out.append(x.float().cpu().numpy())
        x = np.concatenate(out)
        return x if scaled else self.scaler.inverse_transform(x)


@dataclass
class Panel:
    """Synthetic entities: sequences (n, L, C) in original units (model channels, padded past
    each length), their lengths (n,), attribute rows and the attribute vectors they came from."""

    x: np.ndarray
    lengths: np.ndarray
    attributes: pd.DataFrame | None
    vectors: np.ndarray


def generate_panel(
    run: TimeSeriesRun,
    n: int,
    where: dict[str, Any] | pd.DataFrame | None = None,
    seed: int = 0,
    sampler: str | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    batch_size: int | None = None,
    progress: bool = False,
) -> Panel:
    """n synthetic entities of a panel run: attribute vectors first (the attribute model;
    `where` fixes some attributes, the rest drawn given them by RePaint inpainting), decoded
    to valid attributes and lengths; then each sequence given its attributes, with
    classifier-free guidance `guidance` (default sample.guidance) and a padding mask. Entity
    i's sequence draws its noise from its own stream (seed + 1000003 + i), so `batch_size`
    changes nothing."""
    codec = run.codec
    if codec is None or not codec.attribute_dim:
        raise ConfigError(
            f"run {run.path} has no attributes or lengths; use TimeSeriesRun.generate"
        )
    if n < 1:
        raise ConfigError(f"--entities must be at least 1, got {n}")
    sc = run.cfg.sample
    settings = run.settings().override(sampler=sampler, steps=steps, guidance=guidance)
    gen = torch.Generator().manual_seed(seed)
    a_dim = codec.attribute_dim
    attr_net = run.model.attr_model
    known, how, resample = None, settings, 1
    with torch.no_grad():
        if where is not None and len(where):
            if isinstance(where, pd.DataFrame):
                if len(where) != n:
                    raise ConfigError(f"got {len(where)} attribute rows for {n} entities")
                fixed = [
                    codec.known_attributes({k: v for k, v in row.items() if not _blank(v)})
                    for row in where.to_dict("records")
                ]
                mask = np.stack([f[0] for f in fixed])[:, None]
                values = np.stack([f[1] for f in fixed])[:, None]
            else:
                m1, v1 = codec.known_attributes(where)
                mask = np.broadcast_to(m1, (n, 1, a_dim)).copy()
                values = np.broadcast_to(v1, (n, 1, a_dim)).copy()
            known = (torch.from_numpy(mask), torch.from_numpy(values))
            how = replace(settings, sampler="ddpm", steps=100, spacing="uniform", eta=1.0)
            resample = 5  # RePaint: the drawn attributes agree with the fixed ones
        raw = sample_loop(
            attr_net,
            (n, 1, a_dim),
            run.schedule,
            run.objective.prediction,
            how,
            generator=gen,
            known=known,
            resample=resample,
            device=run.device,
        )
    attributes, lengths = codec.decode_attributes(raw[:, 0].float().cpu().numpy())
    if lengths is None:
        lengths = np.full(n, run.window, dtype=np.int64)
    vectors = codec.encode_attributes(attributes if codec.attributes else None, lengths)
    longest = int(lengths.max())
    steps_axis = torch.arange(longest)
    scaled = np.zeros((n, longest, len(run.columns)), dtype=np.float32)
    bs = batch_size or sc.batch_size
    full = max(longest, run.window if codec.lengths is None else codec.lengths[1])
    order = np.argsort(lengths, kind="stable")  # batches of similar lengths: little padding
    for start in range(0, n, bs):
        rows = order[start : start + bs]
        cond = torch.from_numpy(vectors[rows])
        cut = int(lengths[rows].max())  # this batch's longest: no steps beyond it are drawn
        m = steps_axis[None, :cut] < torch.from_numpy(lengths[rows])[:, None]
        padded = m if codec.lengths is not None and not bool(m.all()) else None

        def net(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, mask=padded) -> torch.Tensor:
            k = None if mask is None else mask.repeat(x.shape[0] // mask.shape[0], 1)
            return run.model(x, t, y, mask=k)

        null = torch.full_like(cond, torch.nan)
        denoise = classifier_free_guidance(net, cond, null, settings.guidance)
        x = sample_loop(
            denoise,
            (len(rows), cut, len(run.columns)),
            run.schedule,
            run.objective.prediction,
            settings,
            # entity i's own noise stream, drawn at the longest length the run makes and cut to
            # the batch's: a sequence does not depend on batch_size or on its neighbours
            generator=RowStreams(row_generators(seed + 1_000_003 + rows), full),
            progress=progress,
            device=run.device,
        )
        scaled[rows, :cut] = x.float().cpu().numpy()
    x = run.scaler.inverse_transform(scaled)
    return Panel(x, lengths, attributes if codec.attributes else None, vectors)


def read_where(items: Sequence[str]) -> dict[str, str] | pd.DataFrame | None:
    """`--where` values: NAME=VALUE conditions (repeatable), or one .csv/.parquet table of
    attribute rows (one synthetic entity per row); None when none is given."""
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        from tfusion.data.readers import read_raw, resolve_path

        if Path(items[0]).suffix.lower() not in (".csv", ".tsv", ".parquet"):
            raise ConfigError(
                f"--where {items[0]!r}: write NAME=VALUE (e.g. --where sector=tech), or give one "
                ".csv/.parquet table of attribute rows"
            )

        from tfusion.data.cells import parse_cells

        path = resolve_path(items[0])
        raw = read_raw(path)
        columns = {}
        for name, cells in zip(raw.names, raw.cells):
            # the data reader's cell rules: "NA", "null", ... are blank (the model draws that
            # attribute), and a ;-separated table's decimal commas are numbers
            if cells.dtype == object:
                parsed = parse_cells(cells, raw.decimal_comma)
                cells = np.asarray(
                    [
                        None
                        if parsed.blank[i]
                        else repr(float(parsed.values[i]))
                        if raw.decimal_comma and not parsed.bad[i]
                        else c
                        for i, c in enumerate(cells.tolist())
                    ],
                    dtype=object,
                )
            columns[name] = cells
        frame = pd.DataFrame(columns)
        if frame.empty:
            raise ConfigError(
                f"--where table {path} has no rows; give one attribute row per entity"
            )
        return frame
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(
                f"--where {item!r}: write NAME=VALUE (e.g. --where sector=tech), or give one "
                ".csv/.parquet table of attribute rows"
            )
        if name.strip() in out:
            raise ConfigError(f"--where names {name.strip()!r} twice; give it once")
        out[name.strip()] = value.strip()
    return out


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value == ""


def check_sample_path(path: str | Path) -> Path:
    """Fail before sampling if the samples could not be written to `path`."""
    return check_out_path(path, (".npy", ".csv"))


def write_samples(
    x: np.ndarray,
    path: str | Path,
    columns: tuple[str, ...] | list[str],
    labels: Sequence[str] | None = None,
) -> Path:
    """Write windows (n, L, C) atomically: .npy (the windows; labels, if any, in a `.labels.txt`
    file beside it, one per window), or long-format .csv (window, [label,] step, columns)."""
    path = check_sample_path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, x)
        elif labels is not None:
            import pandas as pd

            n, length, c = x.shape
            frame = pd.DataFrame(x.reshape(-1, c), columns=list(columns))
            frame.insert(0, "step", np.tile(np.arange(length), n))
            frame.insert(0, "label", np.repeat(np.asarray(list(labels), dtype=object), length))
            frame.insert(0, "window", np.repeat(np.arange(n), length))
            frame.to_csv(tmp, index=False, float_format=CSV_FLOAT)
        else:
            n, length, c = x.shape
            idx = np.stack(np.meshgrid(np.arange(n), np.arange(length), indexing="ij"), -1).reshape(
                -1, 2
            )
            flat = x.reshape(-1, c)
            with open(tmp, "w") as f:
                f.write(csv_header(["window", "step", *columns]))
                np.savetxt(
                    f, np.hstack([idx, flat]), delimiter=",", fmt=["%d", "%d"] + [CSV_FLOAT] * c
                )
    if labels is not None and suffix == ".npy":
        with atomic_path(path.with_suffix(".labels.txt")) as tmp:
            tmp.write_text("".join(f"{v}\n" for v in labels), encoding="utf-8")
    elif suffix == ".npy":  # an earlier labelled sample's labels do not describe these windows
        path.with_suffix(".labels.txt").unlink(missing_ok=True)
    return path
