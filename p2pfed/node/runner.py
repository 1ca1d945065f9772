"""Assemble a node from its config (key, roster, topology, data, learner, state, transport) and run it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from p2pfed.config import NodeConfig, Roster, load_roster
from p2pfed.data import load_heldout, load_local
from p2pfed.errors import ConfigError
from p2pfed.gossip import topology
from p2pfed.gossip.algorithms import ProtocolCore
from p2pfed.gossip.core import CoreConfig, CoreSpec
from p2pfed.learning.base import Learner
from p2pfed.learning.batches import node_seed
from p2pfed.learning.factory import make_learner
from p2pfed.node.driver import NodeDriver
from p2pfed.node.lifecycle import LearnerTraining, NodeLifecycle, NodeSetup
from p2pfed.node.metrics import MetricsLog
from p2pfed.node.state import DiskStore
from p2pfed.transport.base import Transport
from p2pfed.types import LocalData
from p2pfed.wire.crypto import Identity, Keyring, read_key_file
from p2pfed.wire.envelope import Wire

log = logging.getLogger(__name__)


def resolve_neighbours(cfg: NodeConfig, roster: Roster) -> tuple[str, ...]:
    """Explicit `node.neighbours`, else this node's neighbours in the roster's topology."""
    if cfg.node.neighbours:
        unknown = [n for n in cfg.node.neighbours if n not in roster.ids]
        if unknown:
            raise ConfigError(f"node.neighbours lists ids not on the roster: {', '.join(unknown)}")
        if cfg.node.id in cfg.node.neighbours:
            raise ConfigError("node.neighbours lists the node itself")
        return tuple(cfg.node.neighbours)
    fed = roster.federation
    graph = topology.build_graph(fed.topology, roster.ids, seed=fed.topology_seed, base_dir=Path(cfg.node.roster).parent)
    return topology.neighbours(graph, cfg.node.id)


@dataclass
class Node:
    """A fully assembled node, ready to `run`."""

    cfg: NodeConfig
    identity: Identity
    roster: Roster
    data: LocalData
    learner: Learner
    wire: Wire
    core: ProtocolCore
    driver: NodeDriver
    lifecycle: NodeLifecycle

    @property
    def resumed(self) -> bool:
        """The node started from a saved state."""
        return self.lifecycle.resumed


def assemble(
    cfg: NodeConfig,
    transport_factory: Callable[[str, dict[str, str], int], Transport] | None = None,
    clock: Callable[[], float] = time.time,
) -> Node:
    """Build every part of a node from `cfg`; raises a P2PFedError subclass on any user mistake.

    `transport_factory(listen, addresses, max_message_bytes)` defaults to ZeroMQ.
    """
    node_id = cfg.node.id
    identity = read_key_file(cfg.node.key)
    roster = load_roster(cfg.node.roster)
    me = roster.get(node_id)
    if me.public_key != identity.public_key_b64:
        raise ConfigError(
            f"the key in {cfg.node.key} (public key {identity.public_key_b64}) is not the one the "
            f"roster lists for {node_id} ({me.public_key}); use the right key or fix the roster"
        )
    neighbours = resolve_neighbours(cfg, roster)
    if not neighbours:
        raise ConfigError(f"{node_id} has no neighbours; check the roster topology or node.neighbours")
    data = load_local(cfg.data)
    heldout = load_heldout(cfg.data)
    m = cfg.model
    learner = make_learner(m, data, seed=node_seed(node_id, m.train_seed), threads=cfg.node.threads)
    manifest = learner.manifest
    keyring = Keyring(identity, {m.id: m.public_key_bytes for m in roster.members})
    spec = CoreSpec(node_id, neighbours, float(len(data.train)), CoreConfig.from_node_config(cfg), roster.ids)
    setup = NodeSetup(
        spec,
        manifest.schema,
        replay_window=cfg.wire.replay_window,
        checkpoint_interval=cfg.runtime.checkpoint_interval,
    )
    lifecycle = NodeLifecycle(
        setup,
        DiskStore(cfg.node.state_dir, node_id, manifest.schema),
        LearnerTraining(learner),
        lambda seq, replay: Wire(node_id, keyring, manifest, seq, replay, cfg.wire),
        learner.initial_params,
    )
    core = lifecycle.boot(clock())  # saves the new sequence reservation before anything is sent
    wire = lifecycle.wire
    assert isinstance(wire, Wire)
    addresses = {m.id: m.address for m in roster.members if m.id != node_id}
    listen = cfg.node.listen or me.address
    max_msg = 4 * (wire.max_body + wire.max_head + 64)
    if transport_factory is None:
        from p2pfed.transport.zeromq import ZmqTransport

        zt = ZmqTransport(listen, addresses, cfg.transport, max_message_bytes=max_msg)
        zt.connect(neighbours)
        transport: Transport = zt
    else:
        transport = transport_factory(listen, addresses, max_msg)
    metrics_file = cfg.runtime.metrics_file or str(Path(cfg.node.state_dir) / "metrics.jsonl")
    driver = NodeDriver(
        core,
        transport,
        learner,
        local_test=data.test,
        heldout=heldout,
        metrics=MetricsLog(metrics_file),
        metrics_interval=cfg.runtime.metrics_interval,
        lifecycle=lifecycle,
        clock=clock,
    )
    log.info(
        "%s: %s, listening on %s, neighbours %s, %d train / %d test rows, model %s (%d params)",
        node_id,
        f"resumed (start #{lifecycle.started}, {core.age} local steps)" if lifecycle.resumed else "fresh start",
        listen,
        ", ".join(neighbours),
        len(data.train),
        len(data.test),
        manifest.arch,
        manifest.size,
    )
    return Node(cfg, identity, roster, data, learner, wire, core, driver, lifecycle)


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if os.getppid() != parent_pid:
            log.warning("parent process %d is gone; shutting down", parent_pid)
            stop.set()
            return
        await asyncio.sleep(0.5)


async def serve(cfg: NodeConfig) -> None:
    """Run a node until SIGTERM/SIGINT, `runtime.duration`, or the death of `runtime.parent_pid`."""
    node = assemble(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if cfg.runtime.duration > 0:
        loop.call_later(cfg.runtime.duration, stop.set)
    watcher = asyncio.create_task(_watch_parent(cfg.runtime.parent_pid, stop)) if cfg.runtime.parent_pid else None
    try:
        await node.driver.run(stop)
    finally:
        if watcher is not None:
            watcher.cancel()
    rec = node.driver.last_record
    log.info(
        "%s stopped cleanly: %d exchanges, %d rejected, local accuracy %s",
        cfg.node.id,
        node.core.counters.exchanges,
        node.core.counters.rejected,
        f"{rec['local_acc']:.3f}" if rec.get("local_acc") is not None else "n/a",
    )
