"""The interface every decentralized-learning node core offers its driver, and the algorithms' options."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from p2pfed.errors import ConfigError
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
