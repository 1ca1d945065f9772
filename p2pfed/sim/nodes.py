"""A simulated node as the engine keeps it (data, learner, device, lifecycle, traffic), and its training state."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from p2pfed.learning.personal import HEAD_STATE_KEY
from p2pfed.node.lifecycle import NodeLifecycle
from p2pfed.node.state import MemoryStore
from p2pfed.sim.devices import DeviceProfile
from p2pfed.sim.trainer import Trainer
from p2pfed.types import LocalData


def node_ids(n: int) -> list[str]:
    """`n000`, `n001`, ... zero-padded so ids sort in index order."""
    width = max(3, len(str(n - 1)))
    return [f"n{i:0{width}d}" for i in range(n)]


@dataclass(eq=False)
class SimNode:
    """One simulated node: its data, learner, device, lifecycle, and what the engine tracks of it."""

    idx: int
    id: str
    data: LocalData
    learner: Any  # a p2pfed.learning.base.Learner
    neighbours: tuple[str, ...]
    profile: DeviceProfile
    slow: float
    group: str
    store: MemoryStore = field(default_factory=MemoryStore)  # what survives a crash
    life: NodeLifecycle | None = None
    core: Any = None  # the running core (life.core), cached for the event loop
    online: bool = False
    timer_at: float = math.inf
    train_token: int = 0
    sent_msgs: int = 0
    sent_bytes: int = 0
    last_merge: float = 0.0
    exchanges_seen: int = 0
    model: np.ndarray | None = None  # fedavg: the model the server last gave this node
    age: int = 0  # fedavg: local steps behind `model`
    rej_base: int = 0  # the core's rejection count when it booted
    drawn: int = 0  # batch-stream position after the trainings completed so far (what a checkpoint keeps)


class SimTraining:
    """A simulated node's `TrainingState`: its batch position as of the trainings completed in virtual
    time, and its personal head (personalize = "head").

    The trainer may run ahead of virtual time (it trains in batches, or in a second process), so
    the position comes from completed trainings, not from the learner; for the same reason the
    optimiser's momentum buffer is not checkpointed in a simulation (a deployed node saves it).
    """

    def __init__(self, node: SimNode, trainer: Trainer) -> None:
        self.node = node
        self.trainer = trainer

    def save(self) -> tuple[dict[str, np.ndarray], int]:
        learner = self.node.learner
        arrays = {HEAD_STATE_KEY: learner.local_state()} if hasattr(learner, "local_state") else {}
        return arrays, self.node.drawn

    def restore(self, arrays: Mapping[str, np.ndarray], samples_drawn: int) -> None:
        self.node.drawn = samples_drawn
        self.trainer.restore(self.node.idx, samples_drawn)
        if HEAD_STATE_KEY in arrays:
            self.node.learner.load_local_state(arrays[HEAD_STATE_KEY])
