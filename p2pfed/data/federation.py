"""Every node's data of a simulated federation at once (data read once), and each node's DataConfig.

Who gets what, for ``n_nodes`` nodes (``None``: the natural count):

- partition "person": one node per person. Synthetic: users 0..n_nodes-1 (or ``partition.pool``);
  npz / uci-har: every subject of the file, ascending (uci-har: its train volunteers), or the
  first ``n_nodes`` of them (or of ``partition.pool``).
- "devices": ``partition.devices`` nodes per person, person-major (node ``p * devices + j`` is
  device j of person p); ``n_nodes`` must then be a multiple of ``devices``.
- "dirichlet" / "quantity": ``n_nodes`` (default ``partition.nodes``) nodes share the pool.

``load_federation(cfg, n)[i]`` is exactly ``load_local(node_configs(cfg, n)[i])``: the same rows,
split and standardization, and the same ``meta``. This is an experimenter's tool: it holds
everyone's data in one process, which a deployed node never does.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from p2pfed.config import DataConfig
from p2pfed.data import partition as P
from p2pfed.data import sources
from p2pfed.data.local import check, device_node, pool_of, pooled_node, pooled_parts, person_node
from p2pfed.errors import DataError
from p2pfed.types import LocalData

log = logging.getLogger(__name__)


def _count(n_nodes: int | None, what: str) -> int | None:
    if n_nodes is None:
        return None
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or n_nodes < 1:
        raise DataError(f"{what} must be an integer >= 1, got {n_nodes!r}")
    return n_nodes


def _people(cfg: DataConfig, count: int | None, root: Path | None) -> tuple[int, ...]:
    """The people of a person or devices federation: `count` of them (None: all there are)."""
    pool = pool_of(cfg, 0) or None  # an explicit pool; synthetic without a pool has none
    if pool is None:
        if cfg.source == "synthetic":
            if count is None:
                raise DataError(
                    "how many synthetic nodes? pass n_nodes (or set data.partition.pool to the users)"
                )
            return tuple(range(count))
        pool = sources.subjects(cfg, root)
    if count is None:
        return tuple(pool)
    if count > len(pool):
        raise DataError(
            f"{count} nodes asked for, but there are only {len(pool)} people: {', '.join(map(str, pool))}"
        )
    return tuple(pool[:count])


def _plan(
    cfg: DataConfig, n_nodes: int | None, root: Path | None
) -> tuple[DataConfig, tuple[int, ...], int, str]:
    """(config with the node count filled in, people of a person/devices federation, node count,
    standardization mode)."""
    n = _count(n_nodes, "the number of nodes")
    p = cfg.partition
    if p.scheme in ("dirichlet", "quantity"):
        nodes = n if n is not None else p.nodes
        if isinstance(nodes, int) and not isinstance(nodes, bool) and nodes < 1:
            raise DataError(
                "how many nodes share the pool? pass n_nodes or set data.partition.nodes "
                f"(scheme {p.scheme!r})"
            )
        cfg = dataclasses.replace(cfg, partition=dataclasses.replace(p, nodes=nodes, index=0))
        return cfg, (), nodes, check(cfg)
    mode = check(cfg)
    if p.scheme == "person":
        people = _people(cfg, n, root)
        return cfg, people, len(people), mode
    if n is not None and n % p.devices:
        raise DataError(f"{n} nodes cannot be {p.devices} devices (data.partition.devices) per person")
    people = _people(cfg, None if n is None else n // p.devices, root)
    return cfg, people, len(people) * p.devices, mode


def node_configs(cfg: DataConfig, n_nodes: int | None = None, root: Path | None = None) -> list[DataConfig]:
    """Each node's DataConfig: what a deployed node i must be configured with to hold part i."""
    cfg, people, nodes, _ = _plan(cfg, n_nodes, root)
    part = cfg.partition
    if part.scheme == "person":
        return [dataclasses.replace(cfg, users=(s,)) for s in people]
    if part.scheme == "devices":
        return [
            dataclasses.replace(cfg, users=(s,), partition=dataclasses.replace(part, index=j))
            for s in people
            for j in range(part.devices)
        ]
    pool = pool_of(cfg, nodes)
    pool = part.pool if pool is None else pool
    parts = [dataclasses.replace(part, index=i, pool=pool) for i in range(nodes)]
    return [dataclasses.replace(cfg, partition=q) for q in parts]


def load_federation(
    cfg: DataConfig, n_nodes: int | None = None, root: Path | None = None
) -> list[LocalData]:
    """Every node's LocalData (node i as `load_local(node_configs(cfg, n_nodes)[i])` gives it),
    reading the file (or generating each synthetic user) once."""
    cfg, people, nodes, mode = _plan(cfg, n_nodes, root)
    p = cfg.partition
    if p.scheme == "person":
        rows = sources.read_rows(cfg, people, root)
        out = [person_node(rows, [s], cfg, mode) for s in people]
    elif p.scheme == "devices":
        rows = sources.read_rows(cfg, people, root)
        parts = P.person_across_devices(rows.person, p.devices, p.order, p.seed)
        order = sorted(people)  # person_across_devices numbers people by ascending id
        out = [
            device_node(rows, s, j, parts[order.index(s) * p.devices + j], cfg, mode)
            for s in people
            for j in range(p.devices)
        ]
    else:
        rows = sources.read_rows(cfg, pool_of(cfg, nodes), root, what="data.partition.pool")
        parts = pooled_parts(rows, cfg, nodes)
        out = [pooled_node(rows, parts, i, cfg, mode) for i in range(nodes)]
    log.debug("built %d nodes (%s partition)", len(out), p.scheme)
    return out
