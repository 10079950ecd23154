"""`TimeSeriesSynthesizer`: the time-series family for pandas users, beside the run folder.

    synth = TimeSeriesSynthesizer(preset="small", steps=2000)
    synth.fit(df, entity="id", time="day", static=["sector"], categorical=["state"])
    fake = synth.sample(200, conditions={"sector": "tech"})   # a DataFrame, df's schema
    synth.save("runs/panel"); synth = TimeSeriesSynthesizer.load("runs/panel")

`fit` trains exactly what `tfusion train` trains (the same config, data pipeline and run
folder); by default a panel (an `entity` column) is learned as whole sequences, lengths included.
`sample` returns rows with the input's columns, order and types. The run folder is a temporary
one until `save` copies it (or `run=` names one to train into).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tfusion.config import apply_overrides
from tfusion.errors import ConfigError, DataError
from tfusion.io import atomic_write_text
from tfusion.runs import check_run_exists
from tfusion.timeseries.config import DataConfig, ModelConfig, RunConfig
from tfusion.timeseries.entities import entity_frame
from tfusion.timeseries.sample import TimeSeriesRun, generate_panel

DTYPES = "dtypes.json"  # the fitted DataFrame's column dtypes, to hand samples back in them
SOURCE = "dataframe"  # data.source of a run trained from a DataFrame (no file to re-read)


class TimeSeriesSynthesizer:
    """Fit on a DataFrame, sample DataFrames with its schema, save and load."""

    def __init__(
        self,
        preset: str = "small",
        steps: int = 2000,
        batch_size: int = 64,
        window: int | None = None,
        whole: bool | None = None,
        seed: int = 0,
        run: str | Path | None = None,
        overrides: Sequence[str] = (),
        progress: bool = False,
    ) -> None:
        """`window`: train on windows of this many steps instead of whole sequences; `whole`
        (default: True for a panel, i.e. with `entity`, unless `window` is given); `run`: the
        folder to train into (default: a temporary one); `overrides`: any `key=value` of
        `tfusion train` (e.g. "diffusion.steps=500")."""
        self.preset, self.steps, self.batch_size = preset, steps, batch_size
        self.window, self.whole, self.seed = window, whole, seed
        self.run_dir = None if run is None else Path(run)
        self.overrides, self.progress = tuple(overrides), progress
        self._run: TimeSeriesRun | None = None
        self._state: dict[str, Any] | None = None
        self._dtypes: dict[str, str] = {}

    def fit(
        self,
        data: pd.DataFrame,
        entity: str | None = None,
        time: str | None = None,
        static: Sequence[str] = (),
        categorical: Sequence[str] = (),
        columns: Sequence[str] | None = None,
    ) -> TimeSeriesSynthesizer:
        """Train on `data`, a long-format table: one row per time step (of one entity, named in
        column `entity`), ordered by `time` when given. Returns self."""
        from tfusion.timeseries.train import train_timeseries

        if not isinstance(data, pd.DataFrame):
            raise DataError(f"fit takes a pandas DataFrame, got {type(data).__name__}")
        whole = self.whole if self.whole is not None else entity is not None and not self.window
        data_cfg = DataConfig(
            source=SOURCE,
            columns=None if columns is None else tuple(columns),
            entity=entity,
            time=time,
            static=tuple(static),
            categorical=tuple(categorical),
            whole=whole,
            window=self.window or 24,
            seed=self.seed,
        )
        cfg = RunConfig(data=data_cfg, model=ModelConfig(preset=self.preset))
        base = [
            f"train.steps={self.steps}",
            f"train.batch_size={self.batch_size}",
            f"train.seed={self.seed}",
            f"train.progress={str(self.progress).lower()}",
        ]
        cfg = apply_overrides(cfg, [*base, *self.overrides])
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="tfusion-")) / "run"
        train_timeseries(cfg, self.run_dir, frame=data)
        dtypes = {str(c): str(t) for c, t in data.dtypes.items()}
        atomic_write_text(self.run_dir / DTYPES, json.dumps(dtypes, indent=2))
        self._open(self.run_dir)
        return self

    def sample(
        self,
        n: int,
        conditions: dict[str, Any] | pd.DataFrame | None = None,
        seed: int = 0,
        guidance: float | None = None,
        steps: int | None = None,
    ) -> pd.DataFrame:
        """n synthetic entities (or windows, for a run without entities) as a DataFrame with
        the training table's columns, order and types. `conditions` fixes attributes: a dict
        (every entity) or a DataFrame of attribute rows (one entity per row; n must match)."""
        run, state = self._loaded()
        d = run.cfg.data
        if isinstance(conditions, pd.DataFrame) and len(conditions) != n:
            raise ConfigError(f"got {len(conditions)} condition rows for {n} entities")
        if run.codec is not None and run.codec.attribute_dim:
            panel = generate_panel(run, n, conditions, seed, steps=steps, guidance=guidance)
            x, lengths, attrs = panel.x, panel.lengths, panel.attributes
        else:
            if conditions is not None:
                raise ConfigError("this run has no attributes to condition on (fit with static=)")
            x = run.generate(n, steps=steps, seed=seed)
            lengths, attrs = None, None
        entity = d.entity or "sequence"
        frame = entity_frame(
            x,
            run.columns,
            state,
            entity,
            d.time,
            d.reverse,
            seed=seed,
            lengths=lengths,
            attributes=attrs,
            codec=run.codec,
        )
        return _restore_dtypes(frame, self._dtypes)

    def save(self, path: str | Path) -> Path:
        """Copy the run folder to `path` (a new folder); returns it."""
        run, _ = self._loaded()
        target = Path(path)
        if target.exists():
            raise ConfigError(f"{target} exists; save to a new folder")
        shutil.copytree(run.path, target)
        return target

    @classmethod
    def load(cls, path: str | Path) -> TimeSeriesSynthesizer:
        """A synthesizer from a saved run folder (or any time-series run folder)."""
        synth = cls(run=path)
        synth._open(check_run_exists(path))
        return synth

    @property
    def run(self) -> TimeSeriesRun:
        """The trained run (config, model, scaler, codec)."""
        return self._loaded()[0]

    def _open(self, path: Path) -> None:
        from tfusion.runs import read_data_state

        self._run = TimeSeriesRun.load(path)
        self._state = read_data_state(path)
        self.run_dir = Path(path)
        kept = Path(path) / DTYPES
        self._dtypes = json.loads(kept.read_text()) if kept.is_file() else {}

    def _loaded(self) -> tuple[TimeSeriesRun, dict[str, Any]]:
        if self._run is None or self._state is None:
            raise ConfigError("fit the synthesizer first (or TimeSeriesSynthesizer.load(path))")
        return self._run, self._state


def _restore_dtypes(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """Columns back in the fitted DataFrame's dtypes: numbers cast (int, float32, ...), times
    given as text written as text (dates alone when every time is midnight)."""
    for name, dtype in dtypes.items():
        if name not in frame.columns or str(frame[name].dtype) == dtype:
            continue
        col = frame[name]
        try:
            if pd.api.types.is_datetime64_any_dtype(col) and not dtype.startswith("datetime"):
                midnight = bool((col.dt.normalize() == col).all())
                text = col.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S")
                frame[name] = text.astype(dtype) if dtype != "object" else text.astype(object)
            elif dtype in ("bool", "boolean") and pd.api.types.is_numeric_dtype(col):
                frame[name] = (col >= 0.5).astype(dtype)  # a 0/1 channel: nearer to 1 is True
            else:
                frame[name] = col.astype(dtype)
        except (TypeError, ValueError):
            continue  # keep tfusion's type where the input's cannot hold the value
    return frame


__all__ = ["TimeSeriesSynthesizer"]
