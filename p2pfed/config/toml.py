"""Frozen dataclasses from TOML: reading the user's files, `--set a.b=c` overrides, the checked builder."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from p2pfed.errors import ConfigError, P2PFedError

T = TypeVar("T")


def check(ok: bool, message: str) -> None:
    """Raise ConfigError(`message`) unless `ok`."""
    if not ok:
        raise ConfigError(message)


def read_toml(path: str | Path, what: str = "file") -> dict[str, Any]:
    """The TOML document at `path`; ConfigError saying what is wrong (`what` names the file's role)."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{p}: {what} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None


def read_text(path: Path, what: str, error: type[P2PFedError] = ConfigError, hint: str = "", encoding: str = "utf-8") -> str:
    """The text of the user's file at `path`; else `error` saying `what` the file is and what went wrong.

    `hint` follows the not-found message (e.g. which key names the file and what it is relative to).
    """
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise error(f"{what} {path} not found{' ' + hint if hint else ''}") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text") from None
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b=c` into (["a", "b"], value); the value is read as TOML, else as a string."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE such as gossip.period=0.5")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def apply_override(data: dict[str, Any], item: str) -> None:
    """Apply one `a.b=c` override to a TOML document in place."""
    keys, value = parse_override(item)
    cur = data
    for k in keys[:-1]:
        nxt = cur.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {item!r}: {k!r} is not a table")
        cur = nxt
    cur[keys[-1]] = value


def build(cls: type[T], data: Any, source: str = "config", path: str = "") -> T:
    """Build frozen dataclass `cls` from a TOML mapping, with a clear error for each mistake."""
    where = f"{source}: {path}" if path else source
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {_tname(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{path}." if path else ""
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(prefix + u for u in unknown)} "
            f"(known: {', '.join(sorted(fields))})"
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], source, sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing required key {sub}")
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def _convert(tp: Any, value: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source, path)  # type: ignore[arg-type]
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: {path} must be an array, got {_tname(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, source, f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{source}: {path} must have {len(args)} items")
        return tuple(_convert(a, v, source, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {path} must be a table, got {_tname(value)}")
        return {_convert(kt, k, source, path): _convert(vt, v, source, f"{path}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        errors = []
        for a in typing.get_args(tp):
            if a is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(a, value, source, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{source}: {path}: unsupported value")
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {path} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {path} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: {path} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {path} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{source}: {path}: unsupported config type {tp!r}")  # pragma: no cover


def _tname(v: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(v), type(v).__name__
    )
