"""Generic config machinery: dataclass <-> dict <-> YAML, `a.b=value` overrides, typed values.

Knows nothing of tfusion's own sections (those are in `tfusion.config`): any frozen dataclass
whose fields are bool / int / float / str, tuples of them, optionals and nested dataclasses works.
An unknown key is an error that names the key and the nearest valid one; a value of the wrong
type is an error too.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tfusion.errors import ConfigError

T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict of a config (tuples become lists, ready for YAML/JSON)."""

    def conv(v: Any) -> Any:
        if is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        return v

    return conv(cfg)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against annotation `tp` (resolved), converting lists to tuples."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is tuple:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{key} must have {len(args)} items, got {value!r}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, bool):  # a column named on / yes / no ...
            raise ConfigError(
                f"{key} must be a string, got {value!r}: YAML reads unquoted on, off, yes, no, "
                "true and false as booleans; quote such a name ('on')"
            )
        raise ConfigError(f"{key} must be a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")


def _unknown_key(key: str, valid: list[str], prefix: str) -> ConfigError:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"; did you mean '{prefix}{near[0]}'?" if near else f"; valid keys: {', '.join(valid)}"
    return ConfigError(f"unknown config key '{prefix}{key}'{hint}")


def from_dict(cls: type[T], data: dict[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass `cls` from a nested dict; unknown keys and wrong types are errors."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config section {prefix or '<root>'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in valid:
            raise _unknown_key(str(key), valid, prefix)
        tp = hints[key]
        if is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(value, tp, f"{prefix}{key}")
    return cls(**kwargs)


def apply_overrides(cfg: T, overrides: list[str] | tuple[str, ...]) -> T:
    """Apply `a.b=value` overrides (values parsed as YAML scalars/lists)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. train.steps=500")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        cfg = _set(cfg, key.strip().split("."), value, "")
    return cfg


def _set(cfg: Any, path: list[str], value: Any, prefix: str) -> Any:
    hints = typing.get_type_hints(type(cfg))
    valid = [f.name for f in fields(cfg)]
    head = path[0]
    if head not in valid:
        raise _unknown_key(head, valid, prefix)
    tp = hints[head]
    if len(path) == 1:
        if is_dataclass(tp):
            new = from_dict(tp, value, f"{prefix}{head}.")
        else:
            new = _coerce(value, tp, f"{prefix}{head}")
        return replace(cfg, **{head: new})
    if not is_dataclass(tp):
        raise ConfigError(f"{prefix}{head} is a value, not a section; cannot set {'.'.join(path)}")
    return replace(cfg, **{head: _set(getattr(cfg, head), path[1:], value, f"{prefix}{head}.")})


class _UniqueKeys(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (YAML keeps the last one,
    silently dropping the first section)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise ConfigError(f"key {key!r} appears twice in one section (line {line})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, fix: str) -> dict[str, Any]:
    """The mapping in a YAML file (safe loader); any unreadable file is a one-line ConfigError."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeys)  # a SafeLoader
    except ConfigError as e:  # a repeated key
        raise ConfigError(f"{path}: {e}; {fix}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML ({str(e).splitlines()[0]}); {fix}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text (damaged?); {fix}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path} ({e.strerror}); {fix}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds a {type(data).__name__}, not a mapping of keys; {fix}")
    return data


def dump_yaml(cfg: Any) -> str:
    """YAML text of a config."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
