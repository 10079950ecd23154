"""Peer panel (multi-sequence) synthetic-data generators, for comparison with tfusion.

Not imported by tfusion or its tests. The peers run in their own venv (they pin other
numpy / pandas / sdv versions than tfusion), e.g.::

    python3 -m venv /work/peers-venv && echo torch==2.13.0 > /tmp/c.txt
    P=/work/peers-venv/bin/pip
    $P install -c /tmp/c.txt torch==2.13.0 numpy pandas pyarrow scikit-learn sdv sktime
    # gretel-synthetics pins sdv<0.18, rdt<1.3 (no py3.11 wheel), pandas<2, numpy<1.24:
    # its DGAN only needs torch, numpy, pandas, scipy and category-encoders.
    $P install -c /tmp/c.txt --no-deps gretel-synthetics==0.22.20
    $P install -c /tmp/c.txt category-encoders scipy

Data is long format: one row per (entity, time), ``time`` = 0..len-1 within an entity,
``static`` columns constant within an entity, every other column a channel. Each
``fit_sample_*`` trains on a wall-clock budget (whole epochs, stops at the first epoch end
after ``budget_s``; ``max_epochs`` caps it, and with ``budget_s=None`` trains exactly
``max_epochs``) and returns ``(synthetic_df, info)`` with the input's columns and dtypes,
``entity`` renumbered 0..n-1 (strings ``syn_0``.. when the input ids are not integers) and
``time`` rewritten as 0..len-1. sdv / gretel are imported inside the functions.

``read_ts`` / ``load_ts_long`` read the real panel sets shipped in the sktime wheel
(``sktime/datasets/data/*/*.ts``) without importing sktime.
"""

from __future__ import annotations

import contextlib
import importlib.util
import time as _time
from pathlib import Path

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------- .ts reader


def sktime_data_dir() -> Path:
    """``sktime/datasets/data`` of the installed sktime, found without importing it."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("sktime is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def read_ts(path: str | Path) -> tuple[list[np.ndarray], list[str] | None, dict]:
    """Parse a .ts file (sktime / timeseriesclassification.com format, no timestamps).

    Returns (series, labels, header): series[i] is float64 (length, channels) with NaN for
    '?'; labels is the per-series class (or regression target) string, None when the file
    has neither @classLabel true nor @targetLabel true; header maps lower-cased @keys to
    their raw value strings.
    """
    header: dict[str, str] = {}
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                key, _, val = line.partition(" ")
                key = key.lower()
                if key == "@data":
                    in_data = True
                    has_label = any(
                        header.get(k, "").split()[:1] == ["true"]
                        for k in ("@classlabel", "@targetlabel")
                    )
                    if header.get("@timestamps", "false").lower() == "true":
                        raise NotImplementedError("timestamped .ts files are not supported")
                elif key.startswith("@"):
                    header[key] = val.strip()
                continue
            fields = line.split(":")
            if has_label:
                labels.append(fields.pop().strip())
            chans = [
                np.array([np.nan if v in ("?", "") else float(v) for v in f.split(",")])
                for f in fields
            ]
            n = max(len(c) for c in chans)  # channels of one case should agree; pad if not
            arr = np.full((n, len(chans)), np.nan)
            for j, c in enumerate(chans):
                arr[: len(c), j] = c
            series.append(arr)
    return series, (labels if has_label else None), header


def ts_to_long(
    series: list[np.ndarray],
    labels: list[str] | None = None,
    *,
    entity: str = "entity",
    time: str = "time",
    label: str = "label",
    channels: list[str] | None = None,
) -> pd.DataFrame:
    """(entity, time, label, ch0..chK) long frame; entity = case index, time = 0..len-1."""
    k = series[0].shape[1]
    channels = channels or [f"ch{j}" for j in range(k)]
    lens = [len(s) for s in series]
    df = pd.DataFrame(np.concatenate(series), columns=channels)
    df.insert(0, entity, np.repeat(np.arange(len(series)), lens))
    df.insert(1, time, np.concatenate([np.arange(n) for n in lens]))
    if labels is not None:
        df.insert(2, label, pd.Categorical(np.repeat(np.asarray(labels, dtype=object), lens)))
    return df


def load_ts_long(name: str, split: str = "TRAIN", data_dir: str | Path | None = None):
    """E.g. ``load_ts_long("BasicMotions")`` -> long DataFrame of BasicMotions_TRAIN.ts."""
    d = Path(data_dir) if data_dir else sktime_data_dir()
    series, labels, _ = read_ts(d / name / f"{name}_{split.upper()}.ts")
    return ts_to_long(series, labels)


# --------------------------------------------------------------------------- helpers


def _split_columns(df, entity, time, static):
    static = list(static or [])
    channels = [c for c in df.columns if c not in (entity, time, *static)]
    return static, channels


def _finish(syn: pd.DataFrame, df: pd.DataFrame, entity: str, time: str) -> pd.DataFrame:
    """Renumber entities 0..n-1, time 0..len-1, restore column order and dtypes."""
    syn = syn.reset_index(drop=True)
    codes = pd.factorize(syn[entity])[0]
    if pd.api.types.is_integer_dtype(df[entity]):
        syn[entity] = codes.astype(df[entity].dtype)
    else:
        syn[entity] = pd.Series([f"syn_{c}" for c in codes], dtype=df[entity].dtype)
    syn = syn.sort_values([entity], kind="stable").reset_index(drop=True)
    syn[time] = syn.groupby(entity).cumcount().astype(df[time].dtype)
    out = syn[list(df.columns)].copy()
    for c in df.columns:
        if c in (entity, time):
            continue
        dt = df[c].dtype
        if isinstance(dt, pd.CategoricalDtype):
            out[c] = pd.Categorical(out[c].astype(object), categories=dt.categories)
        else:
            # e.g. NaN in an int column: keep the peer's dtype
            with contextlib.suppress(TypeError, ValueError):
                out[c] = out[c].astype(dt)
    return out


class _Deadline(Exception):
    pass


# --------------------------------------------------------------------------- SDV PAR


def fit_sample_par(
    df: pd.DataFrame,
    entity: str,
    time: str,
    static: list[str] | None,
    categorical: list[str] | None,
    n_entities: int,
    budget_s: float | None = 30.0,
    seed: int = 0,
    *,
    max_epochs: int = 100_000,
    sequence_length: int | None = None,
) -> tuple[pd.DataFrame, dict]:
    """SDV PARSynthesizer (deepecho PAR: an autoregressive GRU, full-batch, 1 step/epoch).

    sequence_key=entity, sequence_index=time, context_columns=static; columns in
    ``categorical`` get sdtype categorical, the other non-key columns numerical. The budget
    is enforced by bounding deepecho's epoch loop (it iterates ``tqdm(range(epochs))``;
    that name is swapped for the duration of the fit). Lengths are sampled by PAR unless
    ``sequence_length`` is given.
    """
    import deepecho.models.par as dpar
    import torch
    from sdv.metadata import Metadata
    from sdv.sequential import PARSynthesizer

    static, _ = _split_columns(df, entity, time, static)
    categorical = set(categorical or [])
    cols = {entity: {"sdtype": "id"}, time: {"sdtype": "numerical"}}
    for c in df.columns:
        if c not in cols:
            cols[c] = {"sdtype": "categorical" if c in categorical else "numerical"}
    meta = Metadata.load_from_dict(
        {"tables": {"t": {"columns": cols, "sequence_key": entity, "sequence_index": time}}}
    )
    data = df.copy()
    for c in categorical:  # PAR wants object/str categories, not pandas Categorical
        data[c] = data[c].astype(str)

    torch.manual_seed(seed)
    np.random.seed(seed)
    synth = PARSynthesizer(
        meta,
        context_columns=static,
        epochs=max_epochs,
        cuda=False,
        verbose=False,
        enforce_min_max_values=True,
    )
    epochs_done = 0
    t_fit = [0.0]
    orig_tqdm = dpar.tqdm

    def bounded(it, *a, **k):
        nonlocal epochs_done
        t_fit[0] = _time.perf_counter()
        for e in it:
            if budget_s is not None and epochs_done and _time.perf_counter() - t_fit[0] >= budget_s:
                return
            yield e
            epochs_done += 1

    t0 = _time.perf_counter()
    dpar.tqdm = bounded
    try:
        synth.fit({"t": data})
    finally:
        dpar.tqdm = orig_tqdm
    fit_s = _time.perf_counter() - t0
    train_s = _time.perf_counter() - t_fit[0] if t_fit[0] else fit_s

    t1 = _time.perf_counter()
    out = synth.sample_sequences(num_sequences=n_entities, sequence_length=sequence_length)
    syn = out["t"] if isinstance(out, dict) else out
    sample_s = _time.perf_counter() - t1
    info = {
        "model": "sdv.PARSynthesizer",
        "epochs": epochs_done,
        "train_seconds": round(train_s, 2),
        "fit_seconds": round(fit_s, 2),  # + SDV preprocessing and the context copula
        "sample_seconds": round(sample_s, 2),
        "budget_s": budget_s,
    }
    return _finish(syn, df, entity, time), info


# --------------------------------------------------------------------------- gretel DGAN


def _sample_len(max_len: int, max_steps: int = 25) -> tuple[int, int]:
    """(sample_len, max_sequence_len): DGAN needs max_sequence_len % sample_len == 0; keep
    the LSTM at <= max_steps steps, padding max_sequence_len up if max_len divides badly."""
    s0 = -(-max_len // max_steps)
    for s in range(s0, 2 * s0 + 1):
        if max_len % s == 0:
            return s, max_len
    return s0, -(-max_len // s0) * s0


def fit_sample_dgan(
    df: pd.DataFrame,
    entity: str,
    time: str,
    static: list[str] | None,
    categorical: list[str] | None,
    n_entities: int,
    budget_s: float | None = 30.0,
    seed: int = 0,
    *,
    max_epochs: int = 100_000,
    batch_size: int | None = None,
    **dgan_config,
) -> tuple[pd.DataFrame, dict]:
    """gretel-synthetics DGAN (DoppelGANger): attributes = static, features = channels.

    Variable lengths use DGAN's own support (long-format ``train_dataframe`` adds a
    generation flag when some entity is shorter than max_sequence_len, and generated
    sequences are cut at it); nothing is padded or cut here except max_sequence_len being
    rounded up to a multiple of sample_len when the longest length divides badly. The
    budget stops training at the first epoch end past ``budget_s`` (via DGAN's
    progress_callback), so Adam state is continuous.
    """
    import torch
    from gretel_synthetics.timeseries_dgan.config import DfStyle, DGANConfig
    from gretel_synthetics.timeseries_dgan.dgan import DGAN

    static, channels = _split_columns(df, entity, time, static)
    categorical = [c for c in (categorical or []) if c in df.columns]
    lens = df.groupby(entity).size()
    sample_len, max_len = _sample_len(int(lens.max()))
    n = int(lens.size)
    bs = batch_size or max(2, min(256, n // 4 if n >= 32 else n))

    data = df.copy()
    for c in categorical:
        data[c] = data[c].astype(str)
    for c in channels:
        if c not in categorical:
            data[c] = data[c].astype("float64")

    torch.manual_seed(seed)
    np.random.seed(seed)
    cfg = DGANConfig(
        max_sequence_len=max_len,
        sample_len=sample_len,
        batch_size=bs,
        epochs=max_epochs,
        cuda=False,
        **dgan_config,
    )
    model = DGAN(cfg)
    state = {"epochs": 0, "t0": None}

    def callback(p):
        if state["t0"] is None:
            state["t0"] = _time.perf_counter()
        if p.batch == p.total_batches - 1:
            state["epochs"] = p.epoch + 1
            if budget_s is not None and _time.perf_counter() - state["t0"] >= budget_s:
                raise _Deadline

    t0 = _time.perf_counter()
    with contextlib.suppress(_Deadline):
        model.train_dataframe(
            data,
            attribute_columns=static or None,
            feature_columns=channels,
            example_id_column=entity,
            time_column=time,
            discrete_columns=categorical or None,
            df_style=DfStyle.LONG,
            progress_callback=callback,
        )
    t_end = _time.perf_counter()
    fit_s = t_end - t0
    t1 = _time.perf_counter()
    syn = model.generate_dataframe(n_entities)
    sample_s = _time.perf_counter() - t1
    info = {
        "model": "gretel DGAN",
        "epochs": state["epochs"],
        "train_seconds": round(t_end - state["t0"], 2) if state["t0"] else None,
        "fit_seconds": round(fit_s, 2),
        "sample_seconds": round(sample_s, 2),
        "budget_s": budget_s,
        "batch_size": bs,
        "max_sequence_len": max_len,
        "sample_len": sample_len,
        "variable_length": bool(lens.nunique() > 1),
    }
    return _finish(syn, df, entity, time), info
