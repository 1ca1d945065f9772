"""Decentralized learning algorithms as sans-I/O node cores behind one interface, selectable by name.

| name         | core                      | what it does                                                        |
|--------------|---------------------------|---------------------------------------------------------------------|
| `gossip`     | push_pull.NodeCore        | asynchronous push-pull gossip averaging (the default)               |
| `gossip-age` | AgeGossipCore             | push-only gossip learning, age-weighted merge (Ormándi 2013)        |
| `dpsgd`      | DPSGDCore                 | synchronous D-PSGD, Metropolis-Hastings weights (Lian 2017)         |
| `push-sum`   | PushSumCore               | push-sum / SGP with loss-tolerant running sums (Kempe 2003)         |
| `epidemic`   | EpidemicCore              | Epidemic Learning: s random members per round (de Vos 2023)        |
| `local`      | LocalCore                 | local training only, no communication (reference baseline)         |

Every core satisfies `ProtocolCore`, so the async driver and the simulator run any of them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from p2pfed.errors import ConfigError
from p2pfed.gossip.counters import Counters
from p2pfed.gossip.algorithms.age_gossip import AgeGossipCore, age_merge
from p2pfed.gossip.algorithms.dpsgd import (
    DPSGDCore,
    metropolis_hastings,
    mh_matrix,
    mh_weight,
)
from p2pfed.gossip.algorithms.epidemic import EpidemicCore
from p2pfed.gossip.algorithms.local_only import LocalCore
from p2pfed.gossip.algorithms.protocol import (
    DEFAULT_OPTIONS,
    AlgorithmOptions,
    ProtocolCore,
)
from p2pfed.gossip.algorithms.push_sum import PushSumCore
from p2pfed.gossip.algorithms.push_pull import NodeCore
from p2pfed.gossip.core import CoreConfig, Envelope

__all__ = [
    "ALGORITHMS",
    "AgeGossipCore",
    "AlgorithmOptions",
    "DPSGDCore",
    "EpidemicCore",
    "LocalCore",
    "NodeCore",
    "ProtocolCore",
    "PushSumCore",
    "age_merge",
    "make_core",
    "metropolis_hastings",
    "mh_matrix",
    "mh_weight",
]

#: Names accepted by `make_core`, the default first.
ALGORITHMS = ("gossip", "gossip-age", "dpsgd", "push-sum", "epidemic", "local")


def make_core(
    algorithm: str,
    *,
    node_id: str,
    neighbours: Sequence[str],
    members: Sequence[str],
    wire: Envelope,
    params: np.ndarray,
    weight: float,
    cfg: CoreConfig,
    rng: random.Random,
    counters: Counters,
    age: int = 0,
    options: AlgorithmOptions = DEFAULT_OPTIONS,
) -> ProtocolCore:
    """Build the node core of `algorithm` (one of ALGORITHMS); raises ConfigError for an unknown name.

    `members` is the whole roster (used by `epidemic`, which talks to any member; the node's own
    id may be included).  `weight` is the training-set size (used with `cfg.merge = "weighted"`
    by `gossip` and `push-sum`).  `options` holds the per-algorithm knobs (see AlgorithmOptions).
    """
    if algorithm == "gossip":
        return NodeCore(node_id, neighbours, wire, params, weight, cfg, rng, counters, age)
    if algorithm == "gossip-age":
        return AgeGossipCore(node_id, neighbours, wire, params, weight, cfg, rng, counters, age)
    if algorithm == "dpsgd":
        return DPSGDCore(node_id, neighbours, wire, params, weight, cfg, rng, counters, age, options)
    if algorithm == "push-sum":
        return PushSumCore(node_id, neighbours, wire, params, weight, cfg, rng, counters, age)
    if algorithm == "epidemic":
        return EpidemicCore(node_id, neighbours, members, wire, params, weight, cfg, rng, counters, age, options)
    if algorithm == "local":
        return LocalCore(node_id, neighbours, wire, params, weight, cfg, rng, counters, age)
    raise ConfigError(f"unknown algorithm {algorithm!r}; choose one of: {', '.join(ALGORITHMS)}")
