"""One node's life, the same for a deployed node and a simulated one: boot from saved state, checkpoint, leave, return.

The runner (`p2pfed.node.runner`, real clock, ZeroMQ) and the simulator (`p2pfed.sim.engine`,
virtual clock, in-memory network) both run their nodes through `NodeLifecycle`; what differs
between them is injected:

- where the state is kept (`p2pfed.node.state.StateStore`: a folder, or memory);
- how messages are sealed (`make_wire`: the real `Wire`, or the simulator's documented fast
  `PlainWire`);
- where the learner runs (`TrainingState`: in this process, or in the simulator's trainer);
- the time, passed to every call as `now` (wall clock or virtual).

Booting is the one restart-from-state code path: the model, age, counters, replay marks and the
learner's state come from the last checkpoint (or are fresh), sequence numbers resume above the
persisted reservation and the clock, every boot is a new incarnation with its own RNG stream, and
the new reservation is saved before the core sends anything.  Leaving gracefully checkpoints
first; a crash keeps only what the last checkpoint saved.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from p2pfed.gossip.algorithms import ProtocolCore, make_core
from p2pfed.gossip.core import CoreSpec, Envelope
from p2pfed.gossip.counters import Counters
from p2pfed.node.state import NodeState, StateStore
from p2pfed.wire.sequence import ReplayGuard, SequenceCounter

#: Builds the envelope of one incarnation around its sequence counter and replay guard.
WireFactory = Callable[[SequenceCounter, ReplayGuard], Envelope]


class TrainingState(Protocol):
    """The learner's part of a checkpoint: optimiser and local arrays, and the batch-stream position."""

    def save(self) -> tuple[dict[str, np.ndarray], int]: ...

    def restore(self, arrays: Mapping[str, np.ndarray], samples_drawn: int) -> None: ...


class LearnerTraining:
    """`TrainingState` of a learner in this process (a deployed node): its state arrays and batch position."""

    def __init__(self, learner: Any) -> None:
        self.learner = learner  # a Learner with state_arrays/load_state_arrays and samples_drawn

    def save(self) -> tuple[dict[str, np.ndarray], int]:
        return self.learner.state_arrays(), self.learner.samples_drawn

    def restore(self, arrays: Mapping[str, np.ndarray], samples_drawn: int) -> None:
        self.learner.load_state_arrays(arrays)
        self.learner.samples_drawn = samples_drawn


@dataclass(frozen=True)
class NodeSetup:
    """What stays the same across a node's incarnations: its core's spec and algorithm, its model, its limits."""

    core: CoreSpec
    schema: str  # the model's schema hash: a saved state must match it
    algorithm: str = "gossip"
    replay_window: int = 1024
    checkpoint_interval: float = 2.0
    run_seed: int = 0  # mixed into every incarnation's RNG (the simulator's seed; 0 for deployed nodes)

    @property
    def node_id(self) -> str:
        return self.core.node_id


def core_seed(run_seed: int, node_id: str, started: int) -> int:
    """Seed of one incarnation's RNG: every start of a node draws a new stream."""
    digest = hashlib.sha256(f"{run_seed}:core:{node_id}:{started}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class NodeLifecycle:
    """Boots a node's core from its store, checkpoints it, and takes it down (gracefully or by crash)."""

    def __init__(
        self,
        setup: NodeSetup,
        store: StateStore,
        training: TrainingState,
        make_wire: WireFactory,
        initial_params: Callable[[], np.ndarray],
    ) -> None:
        self.setup, self.store, self.training = setup, store, training
        self.make_wire, self.initial_params = make_wire, initial_params
        self.core: ProtocolCore | None = None
        self.wire: Envelope | None = None
        self.started = 0  # incarnations so far (this one included), as saved in the state
        self.resumed = False  # the last boot found a saved state
        self._seq: SequenceCounter | None = None
        self._replay: ReplayGuard | None = None
        self._last = float("-inf")

    @property
    def online(self) -> bool:
        return self.core is not None

    @property
    def seq(self) -> SequenceCounter:
        assert self._seq is not None, "boot() first"
        return self._seq

    def boot(self, now: float) -> ProtocolCore:
        """Start a new incarnation from the last saved state (fresh if none) and save its reservation."""
        s = self.setup
        state = self.store.load()
        self.resumed = state is not None
        if state is None:
            state = NodeState(node_id=s.node_id, schema=s.schema, params=self.initial_params())
        self.training.restore(state.optimizer, state.samples_drawn)
        self.started = state.started + 1
        self._seq = SequenceCounter.resume(state.seq_reserved or None, now)
        self._replay = ReplayGuard(s.replay_window, state.replay_marks)
        self.wire = self.make_wire(self._seq, self._replay)
        rng = random.Random(core_seed(s.run_seed, s.node_id, self.started))
        counters = Counters.from_dict(state.counters)
        self.core = make_core(s.algorithm, s.core, self.wire, state.params, rng=rng, counters=counters, age=state.age)
        self.checkpoint(now)  # the new sequence reservation is durable before anything is sent
        return self.core

    def due(self, now: float) -> bool:
        """A checkpoint is due: the interval has passed, or sequence numbers near their reservation."""
        return self.seq.needs_persist or now - self._last >= self.setup.checkpoint_interval

    def checkpoint(self, now: float) -> NodeState:
        """Save the running core's state (model, age, counters, sequence reservation, replay marks, learner)."""
        core = self.core
        assert core is not None and self._seq is not None and self._replay is not None, "boot() first"
        arrays, drawn = self.training.save()
        state = NodeState(
            node_id=self.setup.node_id,
            schema=self.setup.schema,
            params=core.params,
            age=core.age,
            seq_reserved=self._seq.reserved,
            replay_marks=self._replay.marks(),
            counters=core.counters.as_dict(),
            optimizer=arrays,
            samples_drawn=drawn,
            saved_at=now,
            started=self.started,
        )
        self.store.save(state)
        self._seq.persisted()
        self._last = now
        return state

    def leave(self, now: float, crash: bool = False) -> None:
        """Take the node down: a graceful leave checkpoints first, a crash keeps only the last checkpoint."""
        if self.core is None:
            return
        if not crash:
            self.checkpoint(now)
        self.core = None
