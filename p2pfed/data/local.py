"""This node's own data (split and standardized per person) and the held-out people's data."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from p2pfed.config import DataConfig
from p2pfed.data import npz, synthetic
from p2pfed.data.split import split_person
from p2pfed.data.standardize import resolve_mode, standardize_all, standardize_person
from p2pfed.errors import DataError
from p2pfed.types import LocalData, Split

log = logging.getLogger(__name__)

SOURCES = ("synthetic", "npz")


@dataclass(frozen=True)
class DataInfo:
    """What every node of a federation agrees on for one DataConfig (no private rows needed)."""

    n_classes: int
    input_shape: tuple[int, ...]
    feature_names: tuple[str, ...]
    label_names: tuple[str, ...]


def _check(cfg: DataConfig) -> str:
    """Validate the knobs of `cfg` that need no file; return the resolved standardization."""
    if cfg.source not in SOURCES:
        known = ", ".join(map(repr, SOURCES))
        raise DataError(f"data.source must be one of {known}, got {cfg.source!r}")
    if not 0.0 < cfg.test_fraction < 1.0:
        raise DataError(f"data.test_fraction must be in (0, 1), got {cfg.test_fraction!r}")
    if isinstance(cfg.split_seed, bool) or not isinstance(cfg.split_seed, int) or cfg.split_seed < 0:
        raise DataError(f"data.split_seed must be a non-negative integer, got {cfg.split_seed!r}")
    mode = resolve_mode(cfg.standardize, cfg.source)
    if cfg.source == "synthetic":
        synthetic.validate(cfg.synthetic)
        if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
            raise DataError(f"data.seed must be a non-negative integer, got {cfg.seed!r}")
        if cfg.eval_users < 0:
            raise DataError(f"data.eval_users must be >= 0, got {cfg.eval_users}")
    return mode


def _resolve(p: str, root: Path | None) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() or root is None else Path(root) / q


def _npz_path(cfg: DataConfig, root: Path | None) -> Path:
    if not cfg.path:
        raise DataError("data.path is empty: data.source = 'npz' needs an .npz file with X, y, subject")
    return _resolve(cfg.path, root)


def _synthetic_users(users: Sequence[int]) -> tuple[int, ...]:
    users = tuple(users)
    if not users:
        raise DataError("data.users is empty: list the synthetic user indices this node holds")
    bad = [u for u in users if isinstance(u, bool) or not isinstance(u, int | np.integer) or u < 0]
    if bad:
        raise DataError(f"data.users must be non-negative integers, got {', '.join(map(repr, bad))}")
    dup = sorted({int(u) for u in users if users.count(u) > 1})
    if dup:
        raise DataError(f"data.users lists user(s) {', '.join(map(str, dup))} more than once")
    return tuple(int(u) for u in users)


def data_info(cfg: DataConfig, root: Path | None = None) -> DataInfo:
    """Classes, input shape and names for `cfg`, from the generator or the file, never from rows."""
    _check(cfg)
    if cfg.source == "synthetic":
        return DataInfo(
            synthetic.N_CLASSES, (synthetic.N_FEATURES,), synthetic.FEATURE_NAMES, synthetic.LABEL_NAMES
        )
    info = npz.read_info(_npz_path(cfg, root), cfg.x_key)
    return DataInfo(info.n_classes, info.input_shape, info.feature_names, info.label_names)


def _assemble(
    people: list[tuple[int, np.ndarray, np.ndarray]], cfg: DataConfig, mode: str
) -> tuple[Split, Split, list[int]]:
    """Split each (person, X, y) into train/test, standardize by their train rows, concatenate."""
    parts = []
    for person, X, y in people:
        tr, te = split_person(y, cfg.test_fraction, cfg.split_seed, person)
        Xtr, Xte = standardize_person(X[tr], X[te], mode)
        parts.append((Xtr, y[tr], Xte, y[te]))
    train = Split(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = Split(np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]))
    return train, test, [len(p[1]) + len(p[3]) for p in parts]


def load_local(cfg: DataConfig, root: Path | None = None) -> LocalData:
    """Load THIS node's people only (cfg.users), split and standardized person by person.

    `root` resolves a relative cfg.path (load_node_config already makes paths absolute).
    """
    mode = _check(cfg)
    if cfg.source == "synthetic":
        users = _synthetic_users(cfg.users)
        gen = synthetic.generate_users(cfg.synthetic, cfg.seed, users)
        train, test, rows = _assemble([(u.index, u.X, u.y) for u in gen], cfg, mode)
        meta: dict[str, object] = {
            "source": "synthetic",
            "seed": cfg.seed,
            "users": list(users),
            "archetypes": [u.archetype for u in gen],
            "rows": rows,
            "standardize": mode,
        }
        info = data_info(cfg, root)
    else:
        path = _npz_path(cfg, root)
        d = npz.load_npz(path, cfg.users, cfg.x_key, what="data.users")
        subjects = [int(s) for s in cfg.users]
        people = [(s, d.X[d.subject == s], d.y[d.subject == s]) for s in subjects]
        train, test, rows = _assemble(people, cfg, mode)
        meta = {"source": "npz", "path": str(path), "subjects": subjects, "rows": rows, "standardize": mode}
        info = DataInfo(d.info.n_classes, d.info.input_shape, d.info.feature_names, d.info.label_names)
    log.debug("loaded %d train and %d test rows (%s)", len(train), len(test), meta)
    return LocalData(
        train=train,
        test=test,
        n_classes=info.n_classes,
        feature_names=info.feature_names,
        label_names=info.label_names,
        meta=meta,
    )


def load_heldout(cfg: DataConfig, root: Path | None = None) -> Split | None:
    """People no node holds, each standardized by their own rows; None if there are none.

    synthetic: cfg.eval_users users of the disjoint held-out stream. npz: every subject of
    cfg.eval_path, checked against cfg.path's classes and input shape when that is set.
    """
    mode = _check(cfg)
    if cfg.source == "synthetic":
        if cfg.eval_users == 0:
            return None
        gen = synthetic.heldout_users(cfg.synthetic, cfg.seed, cfg.eval_users)
        X = np.concatenate([standardize_all(u.X, mode) for u in gen])
        return Split(X, np.concatenate([u.y for u in gen]))
    if not cfg.eval_path:
        return None
    path = _resolve(cfg.eval_path, root)
    d = npz.load_npz(path, None, cfg.x_key, what="data.eval_path")
    if cfg.path:
        _check_compatible(d.info, npz.read_info(_npz_path(cfg, root), cfg.x_key), cfg)
    X = np.empty(d.X.shape, np.float32)
    for s in d.info.subjects:
        rows = d.subject == s
        X[rows] = standardize_all(d.X[rows], mode)
    return Split(X, d.y)


def _check_compatible(held: npz.NpzInfo, ref: npz.NpzInfo, cfg: DataConfig) -> None:
    """The held-out file must fit a model built for the node file."""
    if held.input_shape != ref.input_shape:
        raise DataError(
            f"{held.path}: {cfg.x_key} rows have shape {held.input_shape}, "
            f"but {ref.path} has {ref.input_shape}"
        )
    if held.n_classes > ref.n_classes:
        raise DataError(
            f"{held.path}: has {held.n_classes} classes, more than the {ref.n_classes} of {ref.path}"
        )
    own = sorted({int(s) for s in cfg.users} & set(held.subjects))
    if own:
        log.warning("held-out data %s includes this node's own subject(s) %s", held.path, own)
