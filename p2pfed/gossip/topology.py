"""Communication graphs: parse topology specs, build seeded connected graphs, validate them."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np

from p2pfed.config import read_text
from p2pfed.errors import TopologyError

log = logging.getLogger(__name__)

#: How many seeded draws a random family gets before we give up on a connected graph.
MAX_ATTEMPTS = 100

#: Optional graph checks any spec may carry, e.g. ``k-regular:k=4,min_degree=4``.
VALIDATION_PARAMS = ("min_degree", "max_degree")

#: Family name -> its required parameters (validation params aside).
FAMILIES: dict[str, tuple[str, ...]] = {
    "ring": (),
    "complete": (),
    "star": (),
    "k-regular": ("k",),
    "erdos-renyi": ("p",),
    "small-world": ("k", "p"),
    "file": ("path",),
}

_EXAMPLES = {
    "ring": "ring",
    "complete": "complete",
    "star": "star",
    "k-regular": "k-regular:k=4",
    "erdos-renyi": "erdos-renyi:p=0.3",
    "small-world": "small-world:k=4,p=0.1",
    "file": "file:topology/example-ring8.edgelist",
}

#: Type of a parsed spec parameter: k/min_degree/max_degree int, p float, path str.
ParamValue = int | float | str

_MAX_LISTED = 10  # node names listed in one error message before "... and N more"


@dataclass(frozen=True)
class TopologySpec:
    """A parsed topology spec: family name plus typed parameters (validation params included)."""

    name: str
    params: dict[str, ParamValue] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.params.items() if k != "path"]
        if self.name == "file":
            return "file:" + ",".join([str(self.params["path"]), *parts])
        return self.name + (":" + ",".join(parts) if parts else "")


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def parse_spec(spec: str) -> TopologySpec:
    """Parse ``NAME[:KEY=VALUE,...]`` (or ``file:PATH[,KEY=VALUE...]``) into a TopologySpec."""
    if not isinstance(spec, str) or not spec.strip():
        raise TopologyError(f"empty topology spec; {_known_families()}")
    text = spec.strip()
    name, sep, rest = text.partition(":")
    name = name.strip().lower()
    if name not in FAMILIES:
        raise TopologyError(f"unknown topology {name!r} in spec {spec!r}; {_known_families()}")
    if sep and not rest.strip():
        raise TopologyError(f"topology spec {spec!r} has nothing after ':'; e.g. {_EXAMPLES[name]!r}")

    items = [item.strip() for item in rest.split(",")] if rest.strip() else []
    params: dict[str, ParamValue] = {}
    if name == "file":
        # The path is everything up to the first trailing validation param (paths may hold ',').
        cut = len(items)
        while cut > 0 and items[cut - 1].partition("=")[0].strip() in VALIDATION_PARAMS:
            cut -= 1
        path = ",".join(items[:cut]).strip()
        if not path:
            raise TopologyError(f"topology spec {spec!r} names no file; e.g. {_EXAMPLES['file']!r}")
        params["path"] = path
        items = items[cut:]

    required = FAMILIES[name]
    allowed = [p for p in required if p != "path"] + list(VALIDATION_PARAMS)
    for item in items:
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key or not value:
            raise TopologyError(
                f"topology spec {spec!r}: {item!r} is not KEY=VALUE; e.g. {_EXAMPLES[name]!r}"
            )
        key = key.lower()
        if key not in allowed:
            raise TopologyError(
                f"topology spec {spec!r}: unknown parameter {key!r} for {name!r} "
                f"(valid: {', '.join(allowed)})"
            )
        if key in params:
            raise TopologyError(f"topology spec {spec!r}: parameter {key!r} given twice")
        params[key] = _convert_param(spec, key, value)

    missing = [p for p in required if p not in params]
    if missing:
        raise TopologyError(
            f"topology spec {spec!r}: {name!r} needs {', '.join(missing)}; e.g. {_EXAMPLES[name]!r}"
        )
    lo, hi = params.get("min_degree"), params.get("max_degree")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        raise TopologyError(f"topology spec {spec!r}: min_degree={lo} exceeds max_degree={hi}")
    return TopologySpec(name, params)


def _convert_param(spec: str, key: str, value: str) -> ParamValue:
    if key == "p":
        try:
            p = float(value)
        except ValueError:
            p = math.nan
        if not 0.0 <= p <= 1.0:
            raise TopologyError(
                f"topology spec {spec!r}: p must be a probability in [0, 1], got {value!r}"
            )
        return p
    # k, min_degree, max_degree: integers
    try:
        i = int(value)
    except ValueError:
        raise TopologyError(
            f"topology spec {spec!r}: {key} must be an integer, got {value!r}"
        ) from None
    lowest = {"k": 1, "min_degree": 0, "max_degree": 1}[key]
    if i < lowest:
        raise TopologyError(f"topology spec {spec!r}: {key} must be >= {lowest}, got {i}")
    return i


def _known_families() -> str:
    return "known topologies: " + ", ".join(_EXAMPLES.values())


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def build_graph(
    spec: str, nodes: Sequence[str], seed: int = 0, base_dir: Path | None = None
) -> nx.Graph:
    """Build and validate the graph `spec` describes over `nodes` (generator node i = nodes[i]).

    Random families are drawn with `seed` and re-drawn with derived seeds until connected, so
    the same spec, nodes and seed give the same edge set in every process. A ``file:`` path is
    read relative to `base_dir` (default: the current directory).
    """
    parsed = parse_spec(spec)
    ids = _check_nodes(nodes)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TopologyError(f"topology seed must be a non-negative integer, got {seed!r}")
    n = len(ids)
    p = parsed.params
    name = parsed.name
    if name == "file":
        edges = _read_edgelist(Path(str(p["path"])), ids, base_dir)
    elif n == 1:
        if name in ("k-regular", "small-world"):
            raise TopologyError(f"{name} needs more than one node (k < n); got only {ids[0]!r}")
        edges = []
    elif name == "ring":
        edges = [(i, (i + 1) % n) for i in range(n if n > 2 else 1)]
    elif name == "complete":
        edges = [(i, j) for i in range(n) for j in range(i + 1, n)]
    elif name == "star":
        edges = [(0, j) for j in range(1, n)]
    else:
        edges = _draw_connected(name, p, n, seed)

    g = nx.Graph()
    g.add_nodes_from(ids)
    g.add_edges_from(sorted({(ids[a], ids[b]) if a < b else (ids[b], ids[a]) for a, b in edges}))
    lo, hi = p.get("min_degree"), p.get("max_degree")
    validate(
        g,
        min_degree=int(lo) if lo is not None else (1 if n > 1 else 0),
        max_degree=int(hi) if hi is not None else None,
    )
    log.debug("built topology %s over %d nodes: %d edges", parsed, n, g.number_of_edges())
    return g


def _check_nodes(nodes: Sequence[str]) -> list[str]:
    ids = list(nodes)
    if not ids:
        raise TopologyError("a topology needs at least one node; none were given")
    bad = [x for x in ids if not isinstance(x, str) or not x or "#" in x or any(c.isspace() for c in x)]
    if bad:
        raise TopologyError(
            f"node ids must be non-empty strings without whitespace or '#': {bad[:_MAX_LISTED]!r}"
        )
    dup = sorted(x for x, count in Counter(ids).items() if count > 1)
    if dup:
        raise TopologyError(f"node ids listed more than once: {_names(dup)}")
    return ids


def _attempt_seed(seed: int, attempt: int) -> int:
    """A well-mixed 32-bit seed for draw number `attempt` (attempt 0 uses `seed` itself)."""
    if attempt == 0:
        return seed
    return int(np.random.SeedSequence([seed, attempt]).generate_state(1, dtype=np.uint32)[0])


def _draw_connected(
    name: str, p: dict[str, ParamValue], n: int, seed: int
) -> list[tuple[int, int]]:
    """Draw a random family over 0..n-1 until connected; explain why if that never happens."""
    if name == "k-regular":
        k = int(p["k"])
        if k >= n:
            raise TopologyError(
                f"k-regular:k={k} needs k < n (each node links to k others), but there are only "
                f"{n} nodes; use k <= {n - 1} or 'complete'"
            )
        if (n * k) % 2:
            raise TopologyError(
                f"k-regular:k={k} over {n} nodes is impossible: a k-regular graph has n*k/2 edges, "
                f"so n*k must be even; use k={k - 1 if k > 1 else k + 1} or an even number of nodes"
            )
        if k == 1 and n > 2:
            raise TopologyError(
                f"k-regular:k=1 over {n} nodes is a set of disjoint pairs, never connected; use k >= 2"
            )
        if k == 2:
            # Connected 2-regular graphs are exactly Hamiltonian cycles: draw one directly
            # (uniform over cycles) instead of rejecting disconnected unions of cycles.
            order = np.random.default_rng(seed).permutation(n).tolist()
            return [(order[i], order[(i + 1) % n]) for i in range(n)]
    elif name == "erdos-renyi":
        prob = float(p["p"])
        if prob == 0.0:
            raise TopologyError(f"erdos-renyi:p=0 over {n} nodes has no edges, so it is not connected")
    elif name == "small-world":
        k = int(p["k"])
        if k % 2 or k < 2:
            raise TopologyError(
                f"small-world:k={k}: k must be even and >= 2 (each node starts linked to k/2 "
                "ring neighbours on each side)"
            )
        if k >= n:
            raise TopologyError(f"small-world:k={k} needs k < n, but there are only {n} nodes")

    for attempt in range(MAX_ATTEMPTS):
        s = _attempt_seed(seed, attempt)
        if name == "k-regular":
            g = nx.random_regular_graph(int(p["k"]), n, seed=s)
        elif name == "erdos-renyi":
            g = nx.fast_gnp_random_graph(n, float(p["p"]), seed=s)
        else:
            g = nx.watts_strogatz_graph(n, int(p["k"]), float(p["p"]), seed=s)
        if nx.is_connected(g):
            if attempt:
                log.debug("%s: connected graph on draw %d", name, attempt + 1)
            return [(int(a), int(b)) for a, b in g.edges()]

    hint = ""
    if name == "erdos-renyi":
        need = math.log(n) / n
        hint = f" (p={p['p']} is small: connectivity needs p well above ln(n)/n = {need:.3f})"
    raise TopologyError(
        f"could not draw a connected {name} graph over {n} nodes in {MAX_ATTEMPTS} seeded "
        f"attempts{hint}; raise the density (k or p) or use another topology"
    )


def _read_edgelist(path: Path, ids: list[str], base_dir: Path | None) -> list[tuple[int, int]]:
    """Read an edge list file (``a b`` per line, ``#`` comments) into index pairs over `ids`."""
    full = path.expanduser()
    if not full.is_absolute():
        full = (base_dir if base_dir is not None else Path.cwd()) / full
    text = read_text(full, "topology file", TopologyError)

    index = {x: i for i, x in enumerate(ids)}
    edges: list[tuple[int, int]] = []
    unknown: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise TopologyError(
                f"{full}:{lineno}: expected two node ids 'a b', got {raw.strip()!r}"
            )
        a, b = parts
        if a == b:
            raise TopologyError(f"{full}:{lineno}: self-loop {a!r} - {b!r} is not allowed")
        for x in (a, b):
            if x not in index:
                unknown.setdefault(x, lineno)
        if a in index and b in index:
            edges.append((index[a], index[b]))
    if unknown:
        where = ", ".join(f"{x!r} (line {ln})" for x, ln in list(unknown.items())[:_MAX_LISTED])
        more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
        raise TopologyError(
            f"{full}: edges name nodes that are not members: {where}{more}; "
            f"members are {_names(ids)}"
        )
    present = {i for e in edges for i in e}
    missing = [x for i, x in enumerate(ids) if i not in present]
    if missing and len(ids) > 1:
        raise TopologyError(f"{full}: these members appear in no edge: {_names(missing)}")
    return edges


# ---------------------------------------------------------------------------------------------
# Checks and queries
# ---------------------------------------------------------------------------------------------


def validate(graph: nx.Graph, min_degree: int = 1, max_degree: int | None = None) -> None:
    """Raise TopologyError unless `graph` is connected and every degree is within bounds."""
    n = graph.number_of_nodes()
    if n == 0:
        raise TopologyError("the topology has no nodes")
    loops = sorted(str(u) for u, v in nx.selfloop_edges(graph))
    if loops:
        raise TopologyError(f"the topology has self-loops at: {_names(loops)}")
    if not nx.is_connected(graph):
        comps = sorted(nx.connected_components(graph), key=lambda c: (-len(c), min(map(str, c))))
        cut_off = sorted(str(x) for c in comps[1:] for x in c)
        raise TopologyError(
            f"the topology is not connected: {len(comps)} components; nodes cut off from the "
            f"largest one: {_names(cut_off)}"
        )
    low = sorted(str(x) for x, d in graph.degree() if d < min_degree)
    if low:
        raise TopologyError(f"nodes with degree below min_degree={min_degree}: {_names(low)}")
    if max_degree is not None:
        high = sorted(str(x) for x, d in graph.degree() if d > max_degree)
        if high:
            raise TopologyError(f"nodes with degree above max_degree={max_degree}: {_names(high)}")


def neighbours(graph: nx.Graph, node_id: str) -> tuple[str, ...]:
    """The sorted neighbour ids of `node_id`."""
    if node_id not in graph:
        raise TopologyError(
            f"{node_id!r} is not a node of the topology (nodes: {_names(sorted(graph))})"
        )
    return tuple(sorted(graph.neighbors(node_id)))


def describe(graph: nx.Graph) -> dict[str, object]:
    """Summary numbers: n, edges, degree_min/mean/max, diameter (None if disconnected), is_connected."""
    n = graph.number_of_nodes()
    degrees = [d for _, d in graph.degree()]
    connected = n > 0 and nx.is_connected(graph)
    return {
        "n": n,
        "edges": graph.number_of_edges(),
        "degree_min": min(degrees) if degrees else 0,
        "degree_mean": float(np.mean(degrees)) if degrees else 0.0,
        "degree_max": max(degrees) if degrees else 0,
        "diameter": nx.diameter(graph) if connected else None,
        "is_connected": connected,
    }


def format_edgelist(graph: nx.Graph) -> str:
    """The graph as edge-list text that a ``file:`` spec reads back (sorted, one edge a line)."""
    lines = sorted(" ".join(sorted((str(a), str(b)))) for a, b in graph.edges())
    return "".join(line + "\n" for line in lines)


def _names(xs: Sequence[str]) -> str:
    xs = list(xs)
    shown = ", ".join(xs[:_MAX_LISTED])
    return shown + (f" ... and {len(xs) - _MAX_LISTED} more" if len(xs) > _MAX_LISTED else "")
