"""Tests of p2pfed.node.lifecycle: one boot / checkpoint / leave / return path for deployed and simulated nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import MANIFEST, federation, vector

from p2pfed.config import WireConfig
from p2pfed.gossip.core import CoreConfig, CoreSpec
from p2pfed.launch.local import LaunchSpec, LocalFederation
from p2pfed.node import lifecycle as lifecycle_mod
from p2pfed.node.lifecycle import LearnerTraining, NodeLifecycle, NodeSetup, core_seed
from p2pfed.node.runner import assemble
from p2pfed.node.state import DiskStore, MemoryStore, NodeState, StateStore
from p2pfed.sim.engine import Simulation
from p2pfed.sim.spec import load_spec
from p2pfed.transport.memory import MemoryNetwork
from p2pfed.wire.crypto import Keyring
from p2pfed.wire.envelope import Wire
from p2pfed.wire.sequence import DEFAULT_RESERVE


class FakeTraining:
    """A TrainingState that records what it was asked to restore and hands back a batch position."""

    def __init__(self) -> None:
        self.drawn = 0
        self.restored: list[tuple[dict[str, Any], int]] = []

    def save(self) -> tuple[dict[str, np.ndarray], int]:
        return {"momentum": np.full(3, 0.5, np.float32)}, self.drawn

    def restore(self, arrays: Any, samples_drawn: int) -> None:
        self.restored.append((dict(arrays), samples_drawn))
        self.drawn = samples_drawn


def make(store: StateStore, training: FakeTraining | None = None, algorithm: str = "gossip") -> NodeLifecycle:
    fed = federation(3)
    keyring = Keyring(fed.identities["n0"], fed.public_keys)
    spec = CoreSpec("n0", ("n1", "n2"), 10.0, CoreConfig(local_steps=2), tuple(fed.ids))
    setup = NodeSetup(spec, MANIFEST.schema, algorithm=algorithm, checkpoint_interval=5.0, run_seed=7)
    init = vector(MANIFEST, seed=1)
    return NodeLifecycle(
        setup,
        store,
        training or FakeTraining(),
        lambda seq, replay: Wire("n0", keyring, MANIFEST, seq, replay, WireConfig()),
        lambda: init.copy(),
    )


@pytest.mark.parametrize("algorithm", ["gossip", "gossip-age", "dpsgd", "push-sum", "epidemic", "local"])
def test_a_fresh_boot_saves_its_sequence_reservation_before_sending(algorithm: str) -> None:
    store = MemoryStore()
    life = make(store, algorithm=algorithm)
    core = life.boot(now=100.0)
    assert type(core).algorithm == algorithm and life.online and not life.resumed
    assert life.started == 1
    saved = store.state
    assert saved is not None and saved.started == 1 and saved.age == 0
    assert saved.seq_reserved == life.seq.reserved >= int(100.0 * 1e6) + DEFAULT_RESERVE
    assert not life.seq.needs_persist
    np.testing.assert_array_equal(saved.params, vector(MANIFEST, seed=1))


def test_a_crash_returns_to_the_last_checkpoint_a_leave_keeps_everything() -> None:
    store, training = MemoryStore(), FakeTraining()
    life = make(store, training)
    core = life.boot(0.0)
    core.age, training.drawn = 4, 128
    life.checkpoint(1.0)  # what a crash keeps
    core.age, training.drawn = 9, 288
    core.counters.exchanges = 3
    life.leave(2.0, crash=True)
    assert not life.online and store.state.age == 4
    again = life.boot(3.0)
    assert life.resumed and life.started == 2 and again.age == 4
    assert training.restored[-1][1] == 128 and "momentum" in training.restored[-1][0]
    assert again.counters.exchanges == 0
    again.age = 11
    life.leave(4.0)  # graceful: checkpoints first
    assert store.state.age == 11 and store.state.started == 2
    third = life.boot(5.0)
    assert third.age == 11 and life.started == 3


def test_sequence_numbers_resume_above_every_reservation_even_with_the_clock_stopped() -> None:
    store = MemoryStore()
    life = make(store)
    life.boot(0.0)
    issued = [life.seq.next() for _ in range(10)]
    life.leave(0.0, crash=True)
    life.boot(0.0)  # same instant: only the persisted reservation keeps numbers fresh
    assert life.seq.next() > max(issued)


def test_every_incarnation_draws_a_new_random_stream() -> None:
    seeds = {core_seed(7, "n0", started) for started in range(1, 50)}
    assert len(seeds) == 49
    assert core_seed(7, "n0", 1) != core_seed(8, "n0", 1) != core_seed(7, "n1", 1)


def test_due_after_the_interval_or_when_sequence_numbers_need_it() -> None:
    life = make(MemoryStore())
    life.boot(10.0)
    assert not life.due(12.0) and life.due(15.0)
    for _ in range(DEFAULT_RESERVE // 2 + 1):
        life.seq.next()
    assert life.due(11.0)


def test_disk_and_memory_stores_restart_the_same_node_identically(tmp_path: Path) -> None:
    """The restart path does not depend on where the state is kept."""
    cores = []
    for store in (MemoryStore(), DiskStore(tmp_path / "state", "n0", MANIFEST.schema)):
        life = make(store)
        core = life.boot(50.0)
        core.params = core.params + 1.0
        core.age = 6
        core.counters.reject("replay")
        life.leave(51.0)
        cores.append(life.boot(52.0))
    a, b = cores
    np.testing.assert_array_equal(a.params, b.params)
    assert (a.age, a.counters.as_dict(), a.wire.seq.reserved) == (b.age, b.counters.as_dict(), b.wire.seq.reserved)
    assert isinstance(DiskStore(tmp_path / "state", "n0", MANIFEST.schema).load(), NodeState)


def test_learner_training_saves_and_restores_the_learners_state() -> None:
    class Learner:
        samples_drawn = 0
        loaded: dict[str, np.ndarray] = {}

        def state_arrays(self) -> dict[str, np.ndarray]:
            return {"momentum": np.ones(2, np.float32)}

        def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
            self.loaded = dict(arrays)

    lrn = Learner()
    t = LearnerTraining(lrn)
    t.restore({"momentum": np.zeros(2, np.float32)}, 640)
    assert lrn.samples_drawn == 640 and "momentum" in lrn.loaded
    arrays, drawn = t.save()
    assert drawn == 640 and arrays["momentum"].tolist() == [1.0, 1.0]


# --- one restart-from-state code path for the runner and the simulator --------------------------


@pytest.fixture
def boots(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    """Every NodeLifecycle.boot in this test: (store type, node id, resumed)."""
    calls: list[tuple[str, str, bool]] = []
    real = lifecycle_mod.NodeLifecycle.boot

    def spy(self: NodeLifecycle, now: float) -> Any:
        core = real(self, now)
        calls.append((type(self.store).__name__, self.setup.node_id, self.resumed))
        return core

    monkeypatch.setattr(lifecycle_mod.NodeLifecycle, "boot", spy)
    return calls


def test_the_runner_restarts_a_node_through_the_lifecycle(tmp_path: Path, boots: list[Any]) -> None:
    fed = LocalFederation.prepare(LaunchSpec(nodes=2, topology="ring", out=str(tmp_path / "run")))
    net = MemoryNetwork()
    first = assemble(fed.node_config("n0"), transport_factory=lambda *_: net.endpoint("n0"))
    first.lifecycle.leave(1.0)
    second = assemble(fed.node_config("n0"), transport_factory=lambda *_: net.endpoint("n0b"))
    assert boots == [("DiskStore", "n0", False), ("DiskStore", "n0", True)]
    assert second.resumed and second.lifecycle.started == 2


def test_the_simulator_restarts_nodes_through_the_same_lifecycle(tmp_path: Path, boots: list[Any]) -> None:
    spec = load_spec(
        None,
        ["sim.nodes=8", "sim.duration=12.0", "sim.fast=true", "churn.preset='smartphone'", "churn.mean_online=2.0",
         "churn.crash_fraction=1.0"],
    )
    sim = Simulation(spec, tmp_path / "sim", progress=False)
    summary = sim.run()
    ups = len(sim.schedule.initial_online) + sum(e.up for e in sim.schedule.events)
    assert len(boots) == ups and summary["crashes"] > 0
    assert {store for store, _, _ in boots} == {"MemoryStore"}
    assert any(resumed for _, _, resumed in boots)  # some node came back from a checkpoint
