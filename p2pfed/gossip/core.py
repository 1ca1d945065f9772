"""The vocabulary between a sans-I/O node core and its driver: actions out, envelope and config in.

One node implementation for deployed nodes and the simulator (design.md section 3): a core
(`p2pfed.gossip.algorithms`, the default being push-pull gossip averaging,
`p2pfed.gossip.algorithms.push_pull.NodeCore`) never touches sockets, clocks or torch.  A driver
feeds it `on_message`, `on_timer` and `on_trained` with the current time and executes the `Send`
and `Train` actions it returns; the core seals and opens messages through an `Envelope`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from p2pfed.wire.codec import Fields, Kind
from p2pfed.config import NodeConfig
from p2pfed.errors import Reason
from p2pfed.wire.envelope import Message

#: Rejection reason for a valid message of a kind this node's algorithm never uses (mixed federation).
WRONG_ALGORITHM = Reason.WRONG_ALGORITHM


@dataclass(frozen=True)
class Send:
    """Send these frames to `peer` (best effort)."""

    peer: str
    frames: list[bytes]


@dataclass(frozen=True)
class Train:
    """Run `steps` local training steps starting from `params`, then call `on_trained`."""

    params: np.ndarray
    steps: int


Action = Send | Train


class Envelope(Protocol):
    """What the core needs from p2pfed.wire.envelope.Wire (an unencrypted variant may stand in for speed)."""

    def seal(self, kind: Kind, recipient: str, fields: Fields, payload: np.ndarray | None, now: float) -> tuple[int, list[bytes]]: ...

    def open(self, frames: Sequence[bytes]) -> Message: ...


@dataclass(frozen=True)
class CoreConfig:
    """The protocol parameters of the core (a projection of NodeConfig)."""

    period: float = 0.5
    jitter: float = 0.25
    merge: str = "weighted"
    exchange_timeout: float = 3.0
    heartbeat_interval: float = 1.0
    peer_timeout: float = 4.0
    local_steps: int = 5

    @classmethod
    def from_node_config(cls, cfg: NodeConfig) -> CoreConfig:
        return cls(
            period=cfg.gossip.period,
            jitter=cfg.gossip.jitter,
            merge=cfg.gossip.merge,
            exchange_timeout=cfg.gossip.exchange_timeout,
            heartbeat_interval=cfg.liveness.heartbeat_interval,
            peer_timeout=cfg.liveness.peer_timeout,
            local_steps=cfg.model.local_steps if cfg.runtime.train else 0,
        )
