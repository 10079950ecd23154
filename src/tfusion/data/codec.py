"""Panels in numbers a diffusion model can denoise, and back: categories, attributes, lengths.

A panel holds numeric channels, time-varying categorical channels (`data.categorical`) and
per-entity attributes (`data.static`), and, trained whole (`data.whole`), sequences of many
lengths. `PanelCodec` is the one place that turns these into continuous values and back:

- a categorical channel with K levels becomes K one-hot columns named `channel=level` beside the
  numeric channels (the run's scaler maps 0/1 to -1/+1); decoding takes the arg-max of each
  group, so every decoded value is one of the levels seen in training;
- the attribute vector of an entity (A numbers, all in [-1, 1]): each categorical attribute
  one-hot as -1/+1, each numeric attribute min-max scaled to the range of the kept entities
  (held-out ones included: levels and ranges are the schema, every entity must be encodable;
  entities left out for being too short are not), and, for
  whole sequences, log(length) min-max scaled last. Decoding rounds integer attributes and
  lengths and keeps them inside the training range.

The codec is saved in `data_state.json` (`to_dict`), so a run decodes without its data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tfusion.errors import ConfigError


@dataclass(frozen=True)
class Attribute:
    """One static attribute: a category (its levels) or a number (its training range)."""

    name: str
    kind: str  # "category" | "number"
    levels: tuple[str, ...] = ()
    lo: float = 0.0
    hi: float = 0.0
    dtype: str = "float"  # how the input wrote it: int | float | text

    @property
    def width(self) -> int:
        """Columns of the attribute vector this attribute takes."""
        return len(self.levels) if self.kind == "category" else 1


@dataclass(frozen=True)
class PanelCodec:
    """The encoding of one panel: channels, categories, attributes and lengths."""

    numeric: tuple[str, ...]
    categorical: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (channel, its levels)
    attributes: tuple[Attribute, ...] = ()
    lengths: tuple[int, int] | None = None  # whole sequences: the shortest and longest
    kinds: dict[str, str] = field(default_factory=dict)  # input column -> int | float | text
    schema: tuple[str, ...] = ()  # the input's columns in order (synthetic tables follow it)
    dtypes: dict[str, str] = field(default_factory=dict)  # typed inputs: column -> "int32", ...

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """The model's channels: numeric ones, then `channel=level` one-hot columns."""
        hot = tuple(f"{name}={level}" for name, levels in self.categorical for level in levels)
        return self.numeric + hot

    @property
    def attribute_dim(self) -> int:
        """A, the length of the attribute vector (0: nothing to condition on)."""
        return sum(a.width for a in self.attributes) + (self.lengths is not None)

    def one_hot(self, codes: np.ndarray) -> np.ndarray:
        """Codes (N, K) of the categorical channels -> one-hot columns (N, sum of levels); a
        code of -1 (a level no kept sequence has) is all zeros."""
        blocks = [
            np.vstack([np.eye(len(levels)), np.zeros(len(levels))])[codes[:, k]]
            for k, (_, levels) in enumerate(self.categorical)
        ]
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(codes), 0))

    def split_channels(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model channels (..., C) in original units -> numeric (..., Cn) and codes (..., K),
        each code the arg-max of its channel's one-hot group."""
        n = len(self.numeric)
        codes, at = [], n
        for _, levels in self.categorical:
            codes.append(np.argmax(x[..., at : at + len(levels)], axis=-1))
            at += len(levels)
        shape = (*x.shape[:-1], len(codes))
        return x[..., :n], np.stack(codes, -1) if codes else np.zeros(shape, np.int64)

    def encode_attributes(
        self, frame: pd.DataFrame | None, lengths: np.ndarray | None = None
    ) -> np.ndarray:
        """Attribute rows (n entities) and lengths -> attribute vectors (n, A) float32."""
        n = len(frame) if frame is not None else len(lengths)  # type: ignore[arg-type]
        cols = []
        for a in self.attributes:
            assert frame is not None
            values = frame[a.name].to_numpy()
            if a.kind == "category":
                index = {v: i for i, v in enumerate(a.levels)}
                codes = np.fromiter((index[str(v)] for v in values), np.int64, n)
                cols.append(2.0 * np.eye(len(a.levels))[codes] - 1.0)
            else:
                cols.append(_to_unit(values.astype(np.float64), a.lo, a.hi)[:, None])
        if self.lengths is not None:
            assert lengths is not None
            lo, hi = np.log(self.lengths[0]), np.log(self.lengths[1])
            cols.append(_to_unit(np.log(np.asarray(lengths, dtype=np.float64)), lo, hi)[:, None])
        out = np.concatenate(cols, axis=1) if cols else np.zeros((n, 0))
        return out.astype(np.float32)

    def decode_attributes(self, v: np.ndarray) -> tuple[pd.DataFrame, np.ndarray | None]:
        """Attribute vectors (n, A) -> attribute rows (categories as their level text, numbers
        inside the training range, integers rounded) and lengths (n,) or None."""
        out: dict[str, Any] = {}
        at = 0
        for a in self.attributes:
            block = v[:, at : at + a.width]
            at += a.width
            if a.kind == "category":
                out[a.name] = np.asarray(a.levels, dtype=object)[np.argmax(block, axis=1)]
            else:
                x = np.clip(_from_unit(block[:, 0].astype(np.float64), a.lo, a.hi), a.lo, a.hi)
                out[a.name] = np.round(x) if a.dtype == "int" else x
        lengths = None
        if self.lengths is not None:
            lo, hi = np.log(self.lengths[0]), np.log(self.lengths[1])
            log_len = _from_unit(v[:, at].astype(np.float64), lo, hi)
            lengths = np.clip(np.round(np.exp(log_len)), *self.lengths).astype(np.int64)
        return pd.DataFrame(out, index=range(len(v))), lengths

    def known_attributes(self, where: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """`--where name=value` conditions -> (mask (A,) bool, values (A,) float32) of the
        attribute-vector entries they fix; an unknown name or level is a one-line error."""
        mask = np.zeros(self.attribute_dim, dtype=bool)
        values = np.zeros(self.attribute_dim, dtype=np.float32)
        names = [a.name for a in self.attributes]
        for key, value in where.items():
            if key not in names:
                shown = ", ".join(names) or "none"
                raise ConfigError(
                    f"--where {key}=...: {key!r} is not an attribute of this run "
                    f"(attributes: {shown})"
                )
            at = sum(a.width for a in self.attributes[: names.index(key)])
            a = self.attributes[names.index(key)]
            mask[at : at + a.width] = True
            if a.kind == "category":
                text = self.as_stored(key, _level_text(value))
                if text not in a.levels:
                    raise ConfigError(
                        f"--where {key}={text}: the run never saw {text!r} in {key!r}; "
                        f"its levels are {', '.join(repr(v) for v in a.levels)}"
                    )
                values[at : at + a.width] = -1.0
                values[at + a.levels.index(text)] = 1.0
            else:
                value = self.as_stored(key, value)
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"--where {key}={value}: {key!r} is a number attribute; give a number"
                    ) from None
                if not np.isfinite(number):
                    raise ConfigError(f"--where {key}={value}: give a finite number")
                if a.dtype == "int" and number != round(number):
                    # the sampled value is rounded to the column's whole numbers: 30.5 had
                    # silently become 30
                    raise ConfigError(
                        f"--where {key}={number:g}: {key!r} holds whole numbers; give one"
                    )
                if not a.lo <= number <= a.hi:
                    raise ConfigError(
                        f"--where {key}={number:g} is outside the training range of {key!r} "
                        f"({a.lo:g} to {a.hi:g}); the model cannot extrapolate there"
                    )
                values[at] = _to_unit(np.asarray([number]), a.lo, a.hi)[0]
        return mask, values

    def as_stored(self, column: str, value: Any) -> Any:
        """A value as given (`--where`, `--labels`) in the form the run stores: the True /
        False that a bool column is written back as becomes its level "1" / "0"."""
        text = str(value).strip().lower()
        if self.dtypes.get(column) == "bool" and text in ("true", "false"):
            return "1" if text == "true" else "0"
        return value

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (data_state.json)."""
        return {
            "numeric": list(self.numeric),
            "categorical": [[name, list(levels)] for name, levels in self.categorical],
            "attributes": [
                {
                    "name": a.name,
                    "kind": a.kind,
                    "levels": list(a.levels),
                    "lo": a.lo,
                    "hi": a.hi,
                    "dtype": a.dtype,
                }
                for a in self.attributes
            ],
            "lengths": None if self.lengths is None else list(self.lengths),
            "kinds": dict(self.kinds),
            "schema": list(self.schema),
            "dtypes": dict(self.dtypes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PanelCodec:
        """The inverse of `to_dict`."""
        attrs = tuple(
            Attribute(a["name"], a["kind"], tuple(a["levels"]), a["lo"], a["hi"], a["dtype"])
            for a in d.get("attributes", [])
        )
        lengths = d.get("lengths")
        return cls(
            tuple(d["numeric"]),
            tuple((name, tuple(levels)) for name, levels in d.get("categorical", [])),
            attrs,
            None if lengths is None else (int(lengths[0]), int(lengths[1])),
            dict(d.get("kinds", {})),
            tuple(d.get("schema", ())),
            {str(k): checked_dtype(v) for k, v in dict(d.get("dtypes", {})).items()},
        )


def checked_dtype(name: Any) -> str:
    """A saved column dtype: the name of a numpy bool, integer or float type, else ValueError
    (a damaged data_state.json)."""
    try:
        kind = np.dtype(str(name)).kind if isinstance(name, str) else ""
    except TypeError:
        kind = ""
    if kind not in ("b", "i", "u", "f"):
        raise ValueError(f"column dtype {name!r} is not a numpy bool, integer or float type")
    return name


def fit_attributes(frame: pd.DataFrame, kinds: dict[str, str]) -> tuple[Attribute, ...]:
    """Attributes from the training entities' rows: text columns are categories (their levels
    sorted as the table loader sorts them), number columns keep their range."""
    out = []
    for name in frame.columns:
        values = frame[name].to_numpy()
        if values.dtype == object:
            levels = sorted({str(v) for v in values}, key=level_key)
            out.append(Attribute(name, "category", tuple(levels), dtype=kinds.get(name, "text")))
        else:
            x = values.astype(np.float64)
            out.append(
                Attribute(
                    name, "number", (), float(x.min()), float(x.max()), kinds.get(name, "float")
                )
            )
    return tuple(out)


def level_key(v: str) -> tuple[bool, float, str]:
    """Sort key of levels: numbers in numeric order, then text alphabetically, blank last."""
    try:
        return (v == "", float(v) if v else 0.0, v)
    except ValueError:
        return (v == "", float("inf"), v)


def _level_text(value: Any) -> str:
    """A level as the table loader writes it: numbers without a trailing .0."""
    if isinstance(value, float | int | np.number) and not isinstance(value, bool):
        return f"{float(value):.15g}"
    text = str(value).strip()
    try:
        return f"{float(text):.15g}"
    except ValueError:
        return text


def _to_unit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """[lo, hi] -> [-1, 1]; a constant range maps to 0."""
    return np.zeros_like(x) if hi <= lo else 2.0 * (x - lo) / (hi - lo) - 1.0


def _from_unit(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.full_like(y, lo) if hi <= lo else (y + 1.0) / 2.0 * (hi - lo) + lo
