"""The sweep file and its grid: load and validate a sweep file, expand the grid into named points."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from p2pfed.config import parse_override, read_toml
from p2pfed.errors import ConfigError

_FILE_KEYS = {"spec", "out", "seed_key", "grid"}
_KEY = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")  # dotted TOML bare keys, as `--set` takes them
_SAFE = re.compile(r"[^A-Za-z0-9._=,+\-]")
_MAX_NAME = 180


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file: base spec, output folder, extra overrides and the grid."""

    path: Path  # the sweep file
    spec: Path  # base simulation spec (absolute)
    out: Path  # output folder
    grid: tuple[tuple[str, tuple[Any, ...]], ...]  # (dotted key, values) in file order
    overrides: tuple[str, ...] = ()  # extra `--set` overrides applied to every point
    seed_key: str = "sim.seed"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.grid)

    @property
    def group_keys(self) -> tuple[str, ...]:
        """Grid keys that define a group in summary.md (every key but the seed key)."""
        return tuple(k for k in self.keys if k != self.seed_key)


@dataclasses.dataclass(frozen=True)
class Point:
    """One grid point: its folder name, its values and the `--set` overrides that make it."""

    name: str
    values: tuple[tuple[str, Any], ...]
    overrides: tuple[str, ...]


def load_sweep(path: str | Path, overrides: Sequence[str] = (), out: str | Path | None = None) -> SweepSpec:
    """Read and validate a sweep file; `overrides` apply to every point, `out` replaces its `out`."""
    p = Path(path)
    data = read_toml(p, "sweep file")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise ConfigError(f"{p}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_FILE_KEYS))})")
    spec = data.get("spec")
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f'{p}: missing or empty `spec`: the base simulation spec, e.g. spec = "study.toml"')
    spec_path = (p.parent / Path(spec).expanduser()).resolve()
    if not spec_path.is_file():
        raise ConfigError(f"{p}: spec {spec!r} not found (looked for {spec_path}; relative to the sweep file)")
    out_value = data.get("out", f"runs/{p.stem}")
    if not isinstance(out_value, str) or not out_value:
        raise ConfigError(f"{p}: `out` must be a non-empty string (an output folder), got {out_value!r}")
    seed_key = data.get("seed_key", "sim.seed")
    if not isinstance(seed_key, str) or not seed_key:
        raise ConfigError(f"{p}: `seed_key` must be a dotted key such as \"sim.seed\", got {seed_key!r}")
    if "grid" not in data:
        raise ConfigError(f'{p}: missing [grid] table, e.g.\n[grid]\n"sim.seed" = [0, 1, 2]')
    if not isinstance(data["grid"], dict):
        raise ConfigError(f"{p}: `grid` must be a table of dotted key = [values]")
    grid = _flatten_grid(data["grid"], p)
    if not grid:
        raise ConfigError(f'{p}: [grid] is empty; add at least one key, e.g. "sim.seed" = [0, 1, 2]')
    for item in overrides:
        keys, _ = parse_override(item)
        key = ".".join(keys)
        if key in dict(grid):
            raise ConfigError(f"--set {item!r}: {key} is swept by the grid in {p}; remove it from --set or the grid")
    return SweepSpec(
        path=p,
        spec=spec_path,
        out=Path(out if out is not None else out_value).expanduser(),
        grid=tuple(grid),
        overrides=tuple(overrides),
        seed_key=seed_key,
    )


def _flatten_grid(table: Mapping[str, Any], path: Path, prefix: str = "") -> list[tuple[str, tuple[Any, ...]]]:
    out: list[tuple[str, tuple[Any, ...]]] = []
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flatten_grid(v, path, key + ".")
            continue
        if not _KEY.fullmatch(key):
            raise ConfigError(f"{path}: grid key {key!r} is not a dotted key such as \"sim.seed\"")
        if not isinstance(v, list):
            raise ConfigError(f"{path}: grid.{key} must be an array of values, e.g. [{toml_value(v)}], got {v!r}")
        if not v:
            raise ConfigError(f"{path}: grid.{key} is an empty array; give at least one value")
        seen: list[str] = []
        for x in v:
            lit = toml_value(x)
            if lit in seen:
                raise ConfigError(f"{path}: grid.{key} lists {lit} twice")
            seen.append(lit)
        out.append((key, tuple(v)))
    return out


def toml_value(v: Any) -> str:
    """`v` as a TOML literal that `parse_override` reads back to an equal value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_string(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, datetime):
        return v.isoformat()
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) as a TOML value")


def _toml_string(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest literal."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _name_part(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
        return "x".join(toml_value(x) for x in v) or "[]"
    if isinstance(v, list | tuple | dict):
        return json.dumps(v, separators=(",", ":"), default=str)
    return toml_value(v)


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def point_name(values: Iterable[tuple[str, Any]]) -> str:
    """A readable folder name for one point: `key=value,key=value`, file-name safe, at most 180 chars."""
    vals = list(values)
    name = _SAFE.sub("_", ",".join(f"{k}={_name_part(v)}" for k, v in vals))
    if len(name) > _MAX_NAME:
        exact = ",".join(f"{k}={toml_value(v)}" for k, v in vals)
        name = name[: _MAX_NAME - 9] + "~" + _digest(exact, 8)
    return name


def expand_grid(grid: Sequence[tuple[str, Sequence[Any]]]) -> list[Point]:
    """Every combination of the grid's values, in order (the last key varies fastest), with unique names."""
    keys = [k for k, _ in grid]
    points = []
    for combo in itertools.product(*(vals for _, vals in grid)):
        values = tuple(zip(keys, combo))
        overrides = tuple(f"{k}={toml_value(v)}" for k, v in values)
        points.append(Point(point_name(values), values, overrides))
    names = [p.name for p in points]
    if len(set(names)) < len(names):  # sanitising merged distinct values: disambiguate those by a hash
        clash = {n for n in names if names.count(n) > 1}
        points = [
            dataclasses.replace(p, name=p.name[: _MAX_NAME - 9] + "~" + _digest(",".join(p.overrides), 8))
            if p.name in clash
            else p
            for p in points
        ]
    return points
