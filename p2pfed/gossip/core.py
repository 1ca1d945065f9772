"""The vocabulary between a sans-I/O node core and its driver: actions out; envelope, spec and config in.

One node implementation for deployed nodes and the simulator (design.md section 3): a core
(`p2pfed.gossip.algorithms`, the default being push-pull gossip averaging,
`p2pfed.gossip.algorithms.push_pull.NodeCore`) never touches sockets, clocks or torch.  A driver
feeds it `on_message`, `on_timer` and `on_trained` with the current time and executes the `Send`
and `Train` actions it returns; the core seals and opens messages through an `Envelope`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from p2pfed.wire.codec import Fields, Kind
from p2pfed.config import GossipConfig, LivenessConfig, NodeConfig
from p2pfed.errors import ConfigError, Reason
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
    def from_sections(cls, gossip: GossipConfig, liveness: LivenessConfig, local_steps: int) -> CoreConfig:
        """From the `[gossip]` and `[liveness]` sections (a node config's or a simulation spec's)."""
        return cls(
            period=gossip.period,
            jitter=gossip.jitter,
            merge=gossip.merge,
            exchange_timeout=gossip.exchange_timeout,
            heartbeat_interval=liveness.heartbeat_interval,
            peer_timeout=liveness.peer_timeout,
            local_steps=local_steps,
        )

    @classmethod
    def from_node_config(cls, cfg: NodeConfig) -> CoreConfig:
        return cls.from_sections(cfg.gossip, cfg.liveness, cfg.model.local_steps if cfg.runtime.train else 0)


@dataclass(frozen=True)
class AlgorithmOptions:
    """Parameters of the non-default algorithms (the shared ones live in CoreConfig).

    - `round_deadline`: in the synchronous algorithms (dpsgd, epidemic), when a round's models
      are averaged, as a fraction of `CoreConfig.period` after the round started.  Models of a
      round that arrive later are ignored; a neighbour that is down costs at most this long.
    - `epidemic_s`: how many roster members an Epidemic Learning node sends its model to per
      round (de Vos et al. 2023 use s of the order of log2 of the number of nodes).
    """

    round_deadline: float = 0.8
    epidemic_s: int = 3

    def __post_init__(self) -> None:
        if not (isinstance(self.round_deadline, float | int) and math.isfinite(self.round_deadline)) or not (
            0.0 < self.round_deadline < 1.0
        ):
            raise ConfigError(
                f"round_deadline = {self.round_deadline!r}: it is a fraction of the gossip period, "
                "so it must lie strictly between 0 and 1 (e.g. 0.8)"
            )
        if not isinstance(self.epidemic_s, int) or isinstance(self.epidemic_s, bool) or self.epidemic_s < 1:
            raise ConfigError(f"epidemic_s = {self.epidemic_s!r}: it must be a whole number of members >= 1 (e.g. 3)")


#: The default options (a module-level constant, usable as a default argument).
DEFAULT_OPTIONS = AlgorithmOptions()


@dataclass(frozen=True)
class CoreSpec:
    """Who a node core is and how it gossips: what stays the same across the node's restarts."""

    node_id: str
    neighbours: tuple[str, ...]
    weight: float = 1.0  # training-set size: the merge weight with cfg.merge = "weighted"
    cfg: CoreConfig = field(default_factory=CoreConfig)
    members: tuple[str, ...] = ()  # the whole roster (epidemic talks to any member; may include node_id)
    options: AlgorithmOptions = DEFAULT_OPTIONS

    def __post_init__(self) -> None:
        object.__setattr__(self, "neighbours", tuple(self.neighbours))
        object.__setattr__(self, "members", tuple(self.members))
