"""Local-only training as a sans-I/O node core: the no-communication reference baseline.

Every `period` (+- jitter) the node trains `local_steps` steps on its own data.  It never sends
anything (no models, no heartbeats), so its neighbours count as down and `alive_neighbours` is
always empty; anything it receives is authenticated and counted, and models are rejected as
`wrong_algorithm` (a member expecting it to take part runs another algorithm).
"""

from __future__ import annotations

from collections.abc import Sequence

from p2pfed.gossip.algorithms.base import ModelCore, Peer
from p2pfed.gossip.core import WRONG_ALGORITHM, Action
from p2pfed.wire.envelope import Message


class LocalCore(ModelCore):
    """Trains alone; the driver interface of the other cores, minus all communication."""

    algorithm = "local"

    def start(self, now: float) -> list[Action]:
        self._schedule_start(now)
        return []

    def _heartbeat_peers(self) -> Sequence[str]:
        return ()

    def alive_neighbours(self, now: float) -> list[str]:
        return []

    def _on_model(self, now: float, msg: Message, peer: Peer) -> list[Action]:
        self._rejected(WRONG_ALGORITHM, f"{msg.sender} sent a model to a local-only node")
        return []
