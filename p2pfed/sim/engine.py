"""The discrete-event engine: N real node cores, a virtual clock, a modelled network, devices and churn.

Every node is the deployed node's own protocol core, booted, checkpointed and taken down by the
deployed node's own lifecycle (`p2pfed.node.lifecycle.NodeLifecycle`, with its state kept in
memory), sealing and opening real envelopes (`p2pfed.wire.envelope.Wire`: msgpack codec, Box
encryption, Ed25519; or the documented `fast` `PlainWire`, same frames without cryptography).
The engine plays the part of the node driver and of the network:

- a single heap of timestamped events (message deliveries, node timers, training completions,
  churn transitions, checkpoints, metrics samples), processed in (time, insertion) order, so a
  seed fixes everything and nothing sleeps;
- messages go through `p2pfed.sim.network.Network` (uplink queue, latency, jitter, loss,
  partitions, FIFO links) and can arrive at a node that is down;
- local training takes virtual time from the node's device profile; it is handed to a trainer
  (`p2pfed.sim.trainer`) when it starts and its result collected when it ends: computed lazily
  in one batch with every other training in flight, or pipelined in a second process while
  the loop goes on (`sim.train_process`).  Both give the same numbers as training node by
  node, because each node's parameters and batch stream are fixed when the training starts
  and a node's batch position resumes from its checkpoint when it restarts;
- churn replays a schedule (`p2pfed.sim.churn`): a crash loses everything since the node's last
  checkpoint (`sim.checkpoint_interval`), a graceful leave checkpoints first; a node coming back
  boots like a restarted process (resumed sequence numbers and replay marks, fresh links, so its
  neighbours resync it with keyframes).

What is measured lives in `p2pfed.sim.measure`; the central FedAvg reference in `p2pfed.sim.fedavg`.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from p2pfed.config import WireConfig
from p2pfed.data import load_federation, load_heldout
from p2pfed.errors import ConfigError
from p2pfed.gossip import topology
from p2pfed.gossip.core import CoreConfig, CoreSpec, Send, Train
from p2pfed.learning.batches import node_seed
from p2pfed.learning.cost import macs_per_sample
from p2pfed.learning.factory import make_learner
from p2pfed.node.lifecycle import NodeLifecycle, NodeSetup
from p2pfed.node.metrics import MetricsLog
from p2pfed.sim import measure
from p2pfed.sim.churn import Event as ChurnEvent
from p2pfed.sim.churn import schedule as churn_schedule
from p2pfed.sim.devices import assign
from p2pfed.sim.fedavg import run_fedavg
from p2pfed.sim.network import Network
from p2pfed.sim.nodes import SimNode, SimTraining, node_ids
from p2pfed.sim.progress import VirtualProgress
from p2pfed.sim.spec import SimSpec, spec_to_toml
from p2pfed.sim.trainer import Trainer, make_trainer
from p2pfed.types import Split
from p2pfed.wire.crypto import Identity, Keyring, verify_keys
from p2pfed.wire.envelope import PlainWire, Wire
from p2pfed.wire.sequence import ReplayGuard, SequenceCounter

log = logging.getLogger(__name__)

# event kinds, in the order they are processed when they fall on the same instant and were queued
# at the same time (the heap is ordered by (time, insertion number) only)
_MSG, _TIMER, _TRAINED, _CHURN, _CKPT, _SAMPLE = range(6)


@dataclass
class _Job:
    key: int  # the trainer's job key
    token: int
    params: np.ndarray


class Totals:
    """Event counts of a run (the network counts its own losses)."""

    def __init__(self) -> None:
        self.delivered = self.to_offline = 0  # messages that reached their node / arrived while it was down
        self.events = self.trainings = 0  # events processed, local trainings completed
        self.churn_events = self.crashes = 0  # churn transitions, crashes among them


def _seed_bytes(seed: int, *parts: str) -> bytes:
    return hashlib.sha256(":".join([str(seed), *parts]).encode()).digest()


class Simulation:
    """One run of a spec; `run()` writes metrics.jsonl, evaluation.json and summary.json into `out_dir`."""

    def __init__(self, spec: SimSpec, out_dir: str | Path, progress: bool = True) -> None:
        self.spec = spec
        self.out = Path(out_dir)
        self.progress = progress
        self.base = Path(spec.base_dir)
        s = spec.sim
        self.now = 0.0
        self._heap: list[tuple[float, int, int, Any]] = []
        self._n = 0
        self._jobs: dict[int, _Job] = {}  # node idx -> training in flight
        self._job_keys = 0
        self.rejections_retired = 0  # rejections counted by node incarnations that went down
        self.totals = Totals()
        self.algorithm = s.algorithm
        self.wall0 = time.perf_counter()
        self.last_record: dict[str, Any] = {}

        t0 = time.perf_counter()
        datas = load_federation(spec.data, s.nodes or None, root=self.base)
        if not datas:
            raise ConfigError("the data spec yields no nodes")
        self.heldout: Split | None = load_heldout(spec.data, root=self.base)
        ids = node_ids(len(datas))
        self.ids = ids
        neighbours = self._neighbours(ids)
        m = spec.model
        self.learners = [
            make_learner(m, d, seed=node_seed(nid, m.train_seed), backend=s.learner, threads=1) for d, nid in zip(datas, ids)
        ]
        manifest = self.learners[0].manifest
        self.manifest = manifest
        self.init = self.learners[0].initial_params()
        macs = macs_per_sample(spec.model, datas[0], manifest)
        devices = assign(ids, dict(spec.devices.mix), spec.devices.straggler_sigma, s.seed)
        self.nodes = [
            SimNode(
                idx=i,
                id=nid,
                data=datas[i],
                learner=self.learners[i],
                neighbours=neighbours[nid],
                profile=devices[nid][0],
                slow=devices[nid][1],
                group=str(datas[i].meta.get("group", "")),
            )
            for i, nid in enumerate(ids)
        ]
        self.by_id = {n.id: n for n in self.nodes}
        # virtual seconds one SGD step costs on each node's device (before its straggler slowdown)
        self._step_cost = {
            n.idx: n.profile.train_seconds(macs, min(spec.model.batch_size, max(len(n.data.train), 1)), 1)
            for n in self.nodes
        }
        self.core_cfg = CoreConfig.from_sections(spec.gossip, spec.liveness, spec.model.local_steps)
        self._identities = [Identity.from_seed(_seed_bytes(s.seed, "identity", nid)) for nid in ids]
        self._verify = verify_keys({nid: ident.public_key for nid, ident in zip(ids, self._identities)})
        self._members = frozenset(ids)
        self._roster = tuple(ids)
        self.eval_nodes = self._eval_sample()
        self.schedule = churn_schedule(spec.churn, ids, s.duration, s.seed, base_dir=self.base)
        self.network = Network(spec.network, ids, s.seed)
        # fedavg trains its picked nodes in one batch per round, in the event loop
        mode = "off" if s.algorithm == "fedavg" else s.train_process
        in_flight = sum(self.train_seconds(n, spec.model.local_steps) for n in self.nodes) / spec.gossip.period
        self.trainer: Trainer = make_trainer(mode, self.learners, manifest.size, in_flight)
        for n in self.nodes:
            n.life = self._lifecycle(n)
        self.setup_seconds = time.perf_counter() - t0
        log.info(
            "%d nodes (%s), %s, model %s with %d parameters, setup %.1fs",
            len(ids), spec.topology.spec, s.algorithm, manifest.arch, manifest.size, self.setup_seconds,
        )

    # --- setup helpers ---------------------------------------------------------------------------

    def _neighbours(self, ids: list[str]) -> dict[str, tuple[str, ...]]:
        if self.spec.sim.algorithm in ("local", "fedavg") and len(ids) == 1:
            return {ids[0]: ()}
        graph = topology.build_graph(self.spec.topology.spec, ids, seed=self.spec.topology.seed, base_dir=self.base)
        return {nid: tuple(topology.neighbours(graph, nid)) for nid in ids}

    def _eval_sample(self) -> list[SimNode]:
        k = self.spec.sim.eval_nodes
        if k == 0 or k >= len(self.nodes):
            return list(self.nodes)
        idx = sorted(np.random.default_rng([self.spec.sim.seed, 0xE7]).choice(len(self.nodes), k, replace=False))
        return [self.nodes[i] for i in idx]

    def _lifecycle(self, node: SimNode) -> NodeLifecycle:
        """The node's lifecycle, exactly a deployed node's but for its state store, wire and clock."""
        spec = self.spec
        core = CoreSpec(node.id, node.neighbours, float(len(node.data.train)), self.core_cfg, self._roster, spec.algorithm)
        setup = NodeSetup(
            core,
            self.manifest.schema,
            algorithm=self.algorithm,
            replay_window=WireConfig().replay_window,
            checkpoint_interval=spec.sim.checkpoint_interval,
            run_seed=spec.sim.seed,
        )
        init = self.init
        return NodeLifecycle(
            setup,
            node.store,
            SimTraining(node, self.trainer),
            lambda seq, replay: self._wire(node, seq, replay),
            lambda: init,
        )

    def _wire(self, node: SimNode, seq: SequenceCounter, replay: ReplayGuard) -> Wire:
        wcfg = WireConfig()
        if self.spec.sim.fast:
            return PlainWire(node.id, self._members, self.manifest, seq, replay, wcfg)  # type: ignore[return-value]
        return Wire(node.id, Keyring.shared(self._identities[node.idx], self._verify), self.manifest, seq, replay, wcfg)

    # --- event queue -----------------------------------------------------------------------------

    def _push(self, t: float, kind: int, payload: Any) -> None:
        self._n += 1
        heapq.heappush(self._heap, (t, self._n, kind, payload))

    # --- node lifecycle --------------------------------------------------------------------------

    def _boot(self, node: SimNode) -> None:
        """Start `node` like a (re)started process from its last checkpoint (a new incarnation)."""
        assert node.life is not None
        node.core = core = node.life.boot(self.now)
        node.online = True
        node.timer_at = math.inf
        node.exchanges_seen = core.counters.exchanges
        node.rej_base = core.counters.rejected
        node.last_merge = self.now
        self._apply(node, core.start(self.now))

    def _down(self, node: SimNode, crash: bool) -> None:
        assert node.life is not None
        self.rejections_retired += node.core.counters.rejected - node.rej_base
        if crash:
            self.totals.crashes += 1
        node.life.leave(self.now, crash)
        node.core = None
        node.online = False
        node.train_token += 1
        job = self._jobs.pop(node.idx, None)
        if job is not None:
            self.trainer.discard(job.key)
        node.timer_at = math.inf

    # --- actions -----------------------------------------------------------------------------------

    def _apply(self, node: SimNode, actions: list[Any]) -> None:
        for a in actions:
            if type(a) is Send:
                self._send(node, a.peer, a.frames)
            elif type(a) is Train:
                node.train_token += 1
                self._job_keys += 1
                old = self._jobs.get(node.idx)
                if old is not None:
                    self.trainer.discard(old.key)
                self._jobs[node.idx] = _Job(self._job_keys, node.train_token, a.params)
                self.trainer.submit(self._job_keys, node.idx, a.params, a.steps)
                self._push(self.now + self.train_seconds(node, a.steps), _TRAINED, (node.idx, node.train_token))
        if node.online:
            d = node.core.next_deadline()
            if d < node.timer_at:
                d = max(d, self.now + 1e-9)
                node.timer_at = d
                self._push(d, _TIMER, node.idx)
        ex = node.core.counters.exchanges
        if ex != node.exchanges_seen:
            node.exchanges_seen = ex
            node.last_merge = self.now

    def _send(self, node: SimNode, peer: str, frames: list[bytes]) -> None:
        size = len(frames[0]) + len(frames[1]) + len(frames[2])
        node.sent_msgs += 1
        node.sent_bytes += size
        delivery = self.network.transmit(self.now, node.idx, node.id, peer, size)
        if delivery is not None:
            dst, arrival = delivery
            self._push(arrival, _MSG, (dst, frames))

    # --- training ----------------------------------------------------------------------------------

    def train_seconds(self, node: SimNode, steps: int) -> float:
        """Virtual seconds `steps` SGD steps take on the node's device."""
        return steps * self._step_cost[node.idx] * node.slow

    def _finish_training(self, idx: int, token: int) -> None:
        node = self.nodes[idx]
        job = self._jobs.get(idx)
        if not node.online or job is None or job.token != token:
            return
        del self._jobs[idx]
        after, stats = self.trainer.result(job.key)
        self.totals.trainings += 1
        node.drawn += stats.samples
        self._apply(node, node.core.on_trained(self.now, job.params, after, stats))

    # --- main loop ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "spec.toml").write_text(spec_to_toml(self.spec))
        for name in ("summary.json", "evaluation.json", "metrics.jsonl"):
            (self.out / name).unlink(missing_ok=True)
        self._metrics = MetricsLog(self.out / "metrics.jsonl")
        try:
            if self.algorithm == "fedavg":
                run_fedavg(self)
            else:
                self._run_nodes()
        finally:
            self.trainer.close()
            self._metrics.close()
        return measure.finish(self, self.last_record)

    def sample(self) -> None:
        """Write the metrics record of this instant."""
        self.last_record = measure.record(self)
        self._metrics.write(self.last_record)

    def _run_nodes(self) -> None:
        s = self.spec.sim
        for nid in sorted(self.schedule.initial_online):
            self._boot(self.by_id[nid])
        for ev in self.schedule.events:
            self._push(ev.time, _CHURN, ev)
        self._push(s.checkpoint_interval, _CKPT, None)
        self._push(0.0, _SAMPLE, None)
        with VirtualProgress(s.duration, self.progress, s.name) as bar:
            heap = self._heap
            while heap:
                t, _, kind, payload = heapq.heappop(heap)
                if t > s.duration:
                    break
                self.now = t
                self.totals.events += 1
                if kind == _MSG:
                    idx, frames = payload
                    node = self.nodes[idx]
                    if not node.online:
                        self.totals.to_offline += 1
                        continue
                    self.totals.delivered += 1
                    self._apply(node, node.core.on_message(t, frames))
                elif kind == _TIMER:
                    node = self.nodes[payload]
                    if not node.online or t != node.timer_at:
                        continue
                    node.timer_at = math.inf
                    self._apply(node, node.core.on_timer(t))
                elif kind == _TRAINED:
                    self._finish_training(*payload)
                elif kind == _CHURN:
                    self._churn(payload)
                elif kind == _CKPT:
                    for node in self.nodes:
                        if node.online:
                            node.life.checkpoint(t)  # type: ignore[union-attr]
                    self._push(t + s.checkpoint_interval, _CKPT, None)
                elif kind == _SAMPLE:
                    self.sample()
                    bar.update(t)
                    if t + s.sample_interval <= s.duration + 1e-9:
                        self._push(t + s.sample_interval, _SAMPLE, None)
            self.now = s.duration

    def _churn(self, ev: ChurnEvent) -> None:
        node = self.by_id[ev.node]
        self.totals.churn_events += 1
        if ev.up and not node.online:
            self._boot(node)
        elif not ev.up and node.online:
            self._down(node, ev.crash)


def run_simulation(spec: SimSpec, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Run `spec`, writing spec.toml, metrics.jsonl, evaluation.json and summary.json to `out_dir`."""
    return Simulation(spec, out_dir, progress).run()
