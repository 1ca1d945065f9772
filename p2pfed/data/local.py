"""This node's own data (its partition, split and standardized per person or node) and the held-out people."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from p2pfed.config import DataConfig, PartitionConfig
from p2pfed.data import partition as P
from p2pfed.data import sources, synthetic
from p2pfed.data.sources import SOURCES, DataInfo, Rows
from p2pfed.data.split import split_person
from p2pfed.data.standardize import resolve_mode, standardize_all, standardize_person
from p2pfed.errors import DataError
from p2pfed.types import LocalData, Split

log = logging.getLogger(__name__)

__all__ = ["SOURCES", "DataInfo", "check", "data_info", "load_heldout", "load_local"]

#: Split streams of the train/test split (see split.split_person): people keep stream 0, so the
#: default split never moved; a device adds its index; pooled-partition nodes use their own.
_POOLED_STREAM = {"dirichlet": 1 << 20, "quantity": (1 << 20) + 1}


def _nonneg_int(name: str, v: object) -> None:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
        raise DataError(f"{name} must be a non-negative integer, got {v!r}")


def _check_partition(p: PartitionConfig) -> None:
    if p.scheme not in P.SCHEMES:
        known = ", ".join(map(repr, P.SCHEMES))
        raise DataError(f"data.partition.scheme must be one of {known}, got {p.scheme!r}")
    for name in ("index", "nodes", "seed", "min_rows"):
        _nonneg_int(f"data.partition.{name}", getattr(p, name))
    if p.scheme == "devices":
        if isinstance(p.devices, bool) or not isinstance(p.devices, int) or p.devices < 1:
            raise DataError(f"data.partition.devices must be an integer >= 1, got {p.devices!r}")
        if p.order not in P.ORDERS:
            known = ", ".join(map(repr, P.ORDERS))
            raise DataError(f"data.partition.order must be one of {known}, got {p.order!r}")
        if p.index >= p.devices:
            raise DataError(
                f"data.partition.index = {p.index} is not a device of 0..{p.devices - 1} "
                "(data.partition.devices)"
            )
    if p.scheme in ("dirichlet", "quantity"):
        if p.nodes < 1:
            raise DataError(
                f"data.partition.nodes must be >= 1 with scheme {p.scheme!r}: how many nodes share the pool"
            )
        if p.index >= p.nodes:
            raise DataError(
                f"data.partition.index = {p.index} is not a node of 0..{p.nodes - 1} (data.partition.nodes)"
            )
        alpha_ok = isinstance(p.alpha, int | float) and np.isfinite(p.alpha) and p.alpha > 0
        if p.scheme == "dirichlet" and not alpha_ok:
            raise DataError(f"data.partition.alpha must be a number > 0, got {p.alpha!r}")
        if p.scheme == "quantity" and not (isinstance(p.sigma, int | float) and 0 <= p.sigma <= 5):
            raise DataError(f"data.partition.sigma must be a number in [0, 5], got {p.sigma!r}")
        _people(p.pool, "data.partition.pool", allow_empty=True)


def check(cfg: DataConfig, partition: bool = True) -> str:
    """Validate the knobs of `cfg` that need no file (the partition's too, unless `partition` is
    False: held-out data and DataInfo do not depend on it); return the resolved standardization."""
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
    sources.check_x_key(cfg)
    if cfg.source == "uci-har" and cfg.eval_path:
        raise DataError(
            "data.eval_path is for data.source = 'npz'; with 'uci-har' the held-out people are the "
            "download's official test volunteers (leave eval_path empty)"
        )
    if partition:
        _check_partition(cfg.partition)
    return mode


def _people(people: Sequence[int], what: str, allow_empty: bool = False) -> tuple[int, ...]:
    """Validated person ids: integers, no repeats, non-empty unless allowed."""
    people = tuple(people)
    if not people and not allow_empty:
        raise DataError(f"{what} is empty: list the synthetic user indices or subject ids this node holds")
    bad = [u for u in people if isinstance(u, bool) or not isinstance(u, int | np.integer)]
    if bad:
        raise DataError(f"{what} must be integers, got {', '.join(map(repr, bad))}")
    dup = sorted({int(u) for u in people if people.count(u) > 1})
    if dup:
        raise DataError(f"{what} lists user(s) {', '.join(map(str, dup))} more than once")
    return tuple(int(u) for u in people)


def _users(cfg: DataConfig) -> tuple[int, ...]:
    users = _people(cfg.users, "data.users")
    if cfg.source == "synthetic":
        neg = [u for u in users if u < 0]
        if neg:
            raise DataError(f"data.users must be non-negative integers, got {', '.join(map(repr, neg))}")
    return users


def pool_of(cfg: DataConfig, nodes: int) -> tuple[int, ...] | None:
    """The people a pooled partition divides: partition.pool, else every subject of a file
    source (None) or synthetic users 0..nodes-1."""
    pool = _people(cfg.partition.pool, "data.partition.pool", allow_empty=True)
    if pool:
        if cfg.source == "synthetic" and min(pool) < 0:
            raise DataError("data.partition.pool must list non-negative synthetic user indices")
        return pool
    return tuple(range(nodes)) if cfg.source == "synthetic" else None


def data_info(cfg: DataConfig, root: Path | None = None) -> DataInfo:
    """Classes, input shape and names for `cfg`, from the generator or the file, never from rows."""
    check(cfg, partition=False)
    return sources.info(cfg, root)


# ---- assembling a node from rows ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Unit:
    """Rows split into train/test and standardized together: a person, or a whole node."""

    key: int  # person id (person, devices) or node index (pooled partitions)
    stream: int  # split stream, see _POOLED_STREAM
    rows: np.ndarray  # indices into the Rows


def assemble(
    rows: Rows, units: Sequence[Unit], cfg: DataConfig, mode: str, meta: dict[str, object]
) -> LocalData:
    """Split each unit into train/test, standardize it by its own train rows, concatenate."""
    parts = []
    for u in units:
        X, y = rows.X[u.rows], rows.y[u.rows]
        tr, te = split_person(y, cfg.test_fraction, cfg.split_seed, u.key, u.stream)
        Xtr, Xte = standardize_person(X[tr], X[te], mode)
        parts.append((Xtr, y[tr], Xte, y[te]))
    train = Split(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = Split(np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]))
    meta = {**rows.meta, **meta, "rows": [len(p[1]) + len(p[3]) for p in parts], "standardize": mode}
    return LocalData(
        train=train,
        test=test,
        n_classes=rows.info.n_classes,
        feature_names=rows.info.feature_names,
        label_names=rows.info.label_names,
        meta=meta,
    )


def _who(rows: Rows, people: Sequence[int]) -> dict[str, object]:
    """meta keys naming the people: users and archetypes (synthetic) or subjects (files)."""
    if rows.meta["source"] == "synthetic":
        return {"users": list(people), "archetypes": [rows.groups[p] for p in people]}
    return {"subjects": list(people)}


def _group(names: Sequence[str]) -> str:
    return "+".join(dict.fromkeys(names))


def person_node(rows: Rows, people: Sequence[int], cfg: DataConfig, mode: str) -> LocalData:
    """A node holding whole people (partition "person")."""
    units = [Unit(p, 0, np.flatnonzero(rows.person == p)) for p in people]
    meta = {"partition": "person", **_who(rows, people), "group": _group([rows.groups[p] for p in people])}
    return assemble(rows, units, cfg, mode, meta)


def device_node(
    rows: Rows, person: int, device: int, part: np.ndarray, cfg: DataConfig, mode: str
) -> LocalData:
    """Device `device` of `person` (partition "devices"): `part` indexes that device's rows."""
    meta = {"partition": "devices", **_who(rows, [person]), "device": device, "group": rows.groups[person]}
    return assemble(rows, [Unit(person, 1 + device, part)], cfg, mode, meta)


def pooled_node(rows: Rows, parts: list[np.ndarray], index: int, cfg: DataConfig, mode: str) -> LocalData:
    """Node `index` of a pooled partition ("dirichlet", "quantity") whose parts are `parts`."""
    scheme = cfg.partition.scheme
    mine = parts[index]
    people = [int(p) for p in np.unique(rows.person[mine])]
    if scheme == "dirichlet":
        group = f"mostly {rows.info.label_names[P.dominant_label(rows.y[mine])]}"
    else:
        sizes = np.array([len(p) for p in parts])
        rank = int(np.argsort(np.argsort(sizes, kind="stable"), kind="stable")[index])
        group = ("small", "medium", "large")[rank * 3 // len(parts)]
    meta = {"partition": scheme, **_who(rows, people), "node": index, "nodes": len(parts), "group": group}
    return assemble(rows, [Unit(index, _POOLED_STREAM[scheme], mine)], cfg, mode, meta)


def pooled_parts(rows: Rows, cfg: DataConfig, nodes: int) -> list[np.ndarray]:
    """The whole pooled partition of `rows` into `nodes` nodes."""
    p = cfg.partition
    if p.scheme == "dirichlet":
        return P.dirichlet_labels(rows.y, nodes, p.alpha, p.seed, p.min_rows)
    if p.scheme == "quantity":
        return P.quantity_skew(len(rows.y), nodes, p.sigma, p.seed, p.min_rows)
    raise DataError(f"partition scheme {p.scheme!r} is not a pooled partition")  # pragma: no cover


# ---- public API --------------------------------------------------------------------------------


def load_local(cfg: DataConfig, root: Path | None = None) -> LocalData:
    """Load THIS node's partition only, split and standardized per person (or per node).

    partition "person": the people cfg.users; "devices": device partition.index of the one person
    in cfg.users; "dirichlet"/"quantity": part partition.index of the pool divided among
    partition.nodes nodes. `root` resolves a relative cfg.path (load_node_config already makes
    paths absolute).
    """
    mode = check(cfg)
    p = cfg.partition
    if p.scheme == "person":
        users = _users(cfg)
        rows = sources.read_rows(cfg, users, root)
        d = person_node(rows, users, cfg, mode)
    elif p.scheme == "devices":
        users = _users(cfg)
        if len(users) != 1:
            raise DataError(
                f"data.users must name exactly one person with partition scheme 'devices', got {list(users)}"
            )
        rows = sources.read_rows(cfg, users, root)
        parts = P.person_across_devices(rows.person, p.devices, p.order, p.seed)
        d = device_node(rows, users[0], p.index, parts[p.index], cfg, mode)
    else:
        rows = sources.read_rows(cfg, pool_of(cfg, p.nodes), root, what="data.partition.pool")
        d = pooled_node(rows, pooled_parts(rows, cfg, p.nodes), p.index, cfg, mode)
    log.debug("loaded %d train and %d test rows (%s)", len(d.train), len(d.test), d.meta)
    return d


def heldout_split(held: Rows, mode: str) -> Split:
    """Held-out rows, each person standardized by their own rows, with groups per row."""
    X = np.empty(held.X.shape, np.float32)
    for s in np.unique(held.person):
        mine = held.person == s
        X[mine] = standardize_all(held.X[mine], mode)
    return Split(X, held.y, held.group_per_row())


def load_heldout(cfg: DataConfig, root: Path | None = None) -> Split | None:
    """People no node holds, each standardized by their own rows; None if there are none.

    synthetic: cfg.eval_users users of the disjoint held-out stream (groups: archetype per row);
    npz: every subject of cfg.eval_path, checked against cfg.path's classes and input shape when
    that is set; uci-har: the official test volunteers (groups: "subject <id>" per row).
    """
    mode = check(cfg, partition=False)
    held = sources.read_heldout(cfg, root)
    return None if held is None else heldout_split(held, mode)
