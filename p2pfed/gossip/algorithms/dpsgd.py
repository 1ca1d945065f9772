"""Synchronous D-PSGD with Metropolis-Hastings weights, as a sans-I/O node core; and the MH weights.

References: X. Lian, C. Zhang, H. Zhang, C.-J. Hsieh, W. Zhang, J. Liu, "Can decentralized
algorithms outperform centralized algorithms? A case study for decentralized parallel stochastic
gradient descent", NeurIPS 2017; L. Xiao, S. Boyd, "Fast linear iterations for distributed
averaging", Systems & Control Letters 53, 2004 (Metropolis-Hastings weights).

Each round (p2pfed.gossip.algorithms.rounds) a node trains `local_steps` steps, sends its model to
every live neighbour, and at the round deadline sets

    x_i <- w_ii x_i + sum_{j in R} w_ij x_j,   w_ij = 1 / (1 + max(d_i, d_j)),   w_ii = 1 - sum_{j in R} w_ij

where R is the set of neighbours whose round-r model arrived in time and d are the degrees in the
static topology.  With every model present this is the doubly stochastic MH matrix (the mean of
all models is preserved and everyone converges to it); a missing neighbour's weight is folded
into the node's own weight (design.md section 4), so the step stays a convex combination.  This
is the adapt-then-combine order (train, then average) of Lian et al.'s update.

Degrees: a node knows its own degree `len(neighbours)`; each MODEL message carries the sender's
degree in its `weight` field, so no node needs the global topology.  Whatever a (faulty) sender
claims, `w_ij <= 1 / (1 + d_i)`, hence `w_ii >= 1 / (1 + d_i) > 0`: the weights stay
non-negative and sum to one.  Only models from static neighbours are used (`not_neighbour`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from p2pfed.gossip.algorithms.base import NOT_NEIGHBOUR
from p2pfed.gossip.algorithms.rounds import RoundCore
from p2pfed.gossip.core import Action
from p2pfed.types import PARAM_DTYPE

log = logging.getLogger(__name__)


def mh_weight(d_i: float, d_j: float) -> float:
    """Metropolis-Hastings weight of the edge between nodes of degrees d_i and d_j."""
    return 1.0 / (1.0 + max(d_i, d_j))


def metropolis_hastings(
    adjacency: Mapping[Hashable, Iterable[Hashable]] | Any,
) -> dict[Hashable, dict[Hashable, float]]:
    """MH mixing weights of an undirected graph: `W[i][j]` for every edge and `W[i][i]` (sparse rows).

    `adjacency` maps each node to its neighbours (a dict of lists or sets, or a networkx Graph).
    Self-loops are ignored.  The result is symmetric, non-negative and doubly stochastic.
    Raises ValueError if the adjacency is not symmetric or names unknown nodes.
    """
    adj = {u: set(adjacency[u]) - {u} for u in adjacency}
    for u, nbrs in adj.items():
        for v in nbrs:
            if v not in adj:
                raise ValueError(f"{v!r} is listed as a neighbour of {u!r} but is not a node of the graph")
            if u not in adj[v]:
                raise ValueError(f"edge {u!r} -> {v!r} has no reverse edge: MH weights need an undirected graph")
    degree = {u: len(nbrs) for u, nbrs in adj.items()}
    weights: dict[Hashable, dict[Hashable, float]] = {}
    for u, nbrs in adj.items():
        row = {v: mh_weight(degree[u], degree[v]) for v in nbrs}
        row[u] = 1.0 - math.fsum(row.values())
        weights[u] = row
    return weights


def mh_matrix(
    adjacency: Mapping[Hashable, Iterable[Hashable]] | Any, order: Sequence[Hashable] | None = None
) -> np.ndarray:
    """The MH weights as a dense float64 matrix, rows and columns in `order` (default: adjacency order)."""
    weights = metropolis_hastings(adjacency)
    nodes = list(weights) if order is None else list(order)
    if sorted(map(repr, nodes)) != sorted(map(repr, weights)):
        raise ValueError("order must list every node of the graph exactly once")
    index = {u: k for k, u in enumerate(nodes)}
    out = np.zeros((len(nodes), len(nodes)))
    for u, row in weights.items():
        for v, w in row.items():
            out[index[u], index[v]] = w
    return out


class DPSGDCore(RoundCore):
    """D-PSGD node: rounds aligned to the clock, MH-weighted averaging over the neighbours that answered."""

    algorithm = "dpsgd"

    @property
    def degree(self) -> int:
        """This node's degree in the static topology."""
        return len(self.neighbours)

    def _accepts_from(self, sender: str) -> bool:
        if sender in self._neighbour_set:
            return True
        self._rejected(NOT_NEIGHBOUR, f"{sender} sent a D-PSGD model but is not a neighbour in the topology")
        return False

    def _send_round(self, now: float) -> list[Action]:
        alive = self.liveness.alive(now)
        if not alive:
            self.counters.idle_rounds += 1
            return []
        return [self._send_model(p, now, weight=float(self.degree), round_=self.round) for p in alive]

    def mixing_weights(self, received_degrees: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        """(w_ii, {j: w_ij}) for a round in which the neighbours in `received_degrees` answered."""
        w = {j: mh_weight(self.degree, d) for j, d in received_degrees.items()}
        return 1.0 - math.fsum(w.values()), w

    def _aggregate(self, received: dict[str, tuple[np.ndarray, float]], now: float) -> np.ndarray:
        w_self, w = self.mixing_weights({j: d for j, (_, d) in received.items()})
        acc = self.params.astype(np.float64) * w_self
        for j, (x, _) in received.items():
            acc += w[j] * x.astype(np.float64)
        missing = [p for p in self.liveness.alive(now) if p not in received]
        self.counters.timeouts += len(missing)
        if missing:
            log.debug("%s: round %d averaged without %s", self.node_id, self.round, ", ".join(missing))
        return acc.astype(PARAM_DTYPE)
