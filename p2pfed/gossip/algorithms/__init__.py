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

from typing import Any

import numpy as np

from p2pfed.errors import ConfigError
from p2pfed.gossip.algorithms.age_gossip import AgeGossipCore, age_merge
from p2pfed.gossip.algorithms.dpsgd import (
    DPSGDCore,
    metropolis_hastings,
    mh_matrix,
    mh_weight,
)
from p2pfed.gossip.algorithms.epidemic import EpidemicCore
from p2pfed.gossip.algorithms.local_only import LocalCore
from p2pfed.gossip.algorithms.base import BaseCore
from p2pfed.gossip.algorithms.protocol import ProtocolCore
from p2pfed.gossip.algorithms.push_sum import PushSumCore
from p2pfed.gossip.algorithms.push_pull import NodeCore
from p2pfed.gossip.core import DEFAULT_OPTIONS, AlgorithmOptions, CoreSpec, Envelope

__all__ = [
    "ALGORITHMS",
    "CORES",
    "CoreSpec",
    "DEFAULT_OPTIONS",
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

#: The core class of each algorithm name.
CORES: dict[str, type[BaseCore]] = {
    "gossip": NodeCore,
    "gossip-age": AgeGossipCore,
    "dpsgd": DPSGDCore,
    "push-sum": PushSumCore,
    "epidemic": EpidemicCore,
    "local": LocalCore,
}

#: Names accepted by `make_core`, the default first.
ALGORITHMS = tuple(CORES)


def make_core(algorithm: str, spec: CoreSpec, wire: Envelope, params: np.ndarray, **restart: Any) -> ProtocolCore:
    """The node core of `algorithm` (one of ALGORITHMS) for `spec`; ConfigError for an unknown name.

    The core seals with `wire` and starts from the model `params`; `restart` holds the keyword
    arguments every core takes (`BaseCore`): `rng`, and a restarted node's `counters` and `age`.
    """
    cls = CORES.get(algorithm)
    if cls is None:
        raise ConfigError(f"unknown algorithm {algorithm!r}; choose one of: {', '.join(ALGORITHMS)}")
    return cls(spec, wire, params, **restart)  # type: ignore[return-value]
