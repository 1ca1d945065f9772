"""The interface every decentralized-learning node core offers its driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from p2pfed.gossip.counters import Counters
from p2pfed.gossip.core import Action
from p2pfed.types import TrainStats


@runtime_checkable
class ProtocolCore(Protocol):
    """A sans-I/O node core: what the async driver and the virtual-time simulator call.

    The driver calls `start(now)` once, then `on_timer(now)` whenever `next_deadline()` has
    passed, `on_message(now, frames)` for every incoming message and `on_trained(now, before,
    after, stats)` when a `Train` action it was given has finished; it executes the `Send` and
    `Train` actions these return.  No method raises on hostile input.
    """

    node_id: str
    neighbours: tuple[str, ...]
    counters: Counters
    age: int  # local training steps behind the current model
    training: bool  # a Train action is outstanding

    @property
    def params(self) -> np.ndarray:
        """The model to evaluate and checkpoint (float32); the same as `model()`."""
        ...

    def start(self, now: float) -> list[Action]: ...

    def on_timer(self, now: float) -> list[Action]: ...

    def on_message(self, now: float, frames: Sequence[bytes]) -> list[Action]: ...

    def on_trained(
        self, now: float, before: np.ndarray, after: np.ndarray | None, stats: TrainStats | None = None
    ) -> list[Action]: ...

    def next_deadline(self) -> float:
        """Earliest time at which `on_timer` has something to do (inf: nothing scheduled)."""
        ...

    def alive_neighbours(self, now: float) -> list[str]: ...

    def model(self) -> np.ndarray:
        """The node's current model estimate as float32 (push-sum: s/w; the others: `params`)."""
        ...
