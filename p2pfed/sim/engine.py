"""The discrete-event engine: N real node cores, a virtual clock, a modelled network, devices and churn.

Every node is the deployed node's own protocol core (`p2pfed.gossip.algorithms.make_core`), sealing
and opening real envelopes (`p2pfed.wire.envelope.Wire`: msgpack codec, Box encryption, Ed25519; or the
documented `fast` `PlainWire`, same frames without cryptography).  The engine plays the part of
the node driver and of the network:

- a single heap of timestamped events (message deliveries, node timers, training completions,
  churn transitions, checkpoints, metrics samples), processed in (time, insertion) order, so a
  seed fixes everything and nothing sleeps;
- a message costs its real size on the sender's uplink (`network.bandwidth_mbps`, queued), then
  latency + jitter; it can be lost, cut by a partition, or arrive at a node that is down;
- local training takes virtual time from the node's device profile; it is handed to a trainer
  (`p2pfed.sim.trainer`) when it starts and its result collected when it ends: computed lazily
  in one batch with every other training in flight, or pipelined in a second process while
  the loop goes on (`sim.train_process`).  Both give the same numbers as training node by
  node, because each node's parameters and batch stream are fixed when the training starts
  and a node's batch position resumes from its checkpoint when it restarts;
- churn replays a schedule (`p2pfed.sim.churn`): a crash loses everything since the node's last
  checkpoint (`sim.checkpoint_interval`), a graceful leave checkpoints first; a node coming back
  is rebuilt like a restarted process (resumed sequence numbers and replay marks, fresh links, so
  its neighbours resync it with keyframes).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from p2pfed.gossip import topology
from p2pfed.config import WireConfig
from p2pfed.wire.crypto import Identity, Keyring, verify_keys
from p2pfed.data import load_federation, load_heldout
from p2pfed.errors import ConfigError
from p2pfed.learning import many
from p2pfed.learning.batches import node_seed
from p2pfed.learning.cost import macs_per_sample
from p2pfed.learning.factory import make_learner
from p2pfed.evaluation.scoring import NodeOutcome, distribution, evaluate_run, write_evaluation
from p2pfed.gossip.counters import Counters
from p2pfed.node.metrics import MetricsLog, json_safe
from p2pfed.gossip.algorithms import make_core
from p2pfed.gossip.core import CoreConfig, Send, Train
from p2pfed.wire.sequence import ReplayGuard, SequenceCounter
from p2pfed.sim.churn import Event as ChurnEvent
from p2pfed.sim.churn import schedule as churn_schedule
from p2pfed.sim.devices import DeviceProfile, assign
from p2pfed.sim.spec import SimSpec, spec_to_toml
from p2pfed.sim.trainer import Trainer, WorkerTrainer, make_trainer
from p2pfed.types import PARAM_DTYPE, LocalData, Split
from p2pfed.wire.envelope import PlainWire, Wire

log = logging.getLogger(__name__)

# event kinds, in the order they are processed when they fall on the same instant and were queued
# at the same time (the heap is ordered by (time, insertion number) only)
_MSG, _TIMER, _TRAINED, _CHURN, _CKPT, _SAMPLE, _ROUND = range(7)


@dataclass
class _Checkpoint:
    params: np.ndarray
    age: int
    seq_reserved: int
    replay_marks: dict[str, int]
    counters: dict[str, Any]
    samples_drawn: int
    local_state: np.ndarray | None


@dataclass(eq=False)
class _Node:
    idx: int
    id: str
    data: LocalData
    learner: Any  # a p2pfed.types.Learner
    neighbours: tuple[str, ...]
    profile: DeviceProfile
    slow: float
    group: str
    core: Any = None
    wire: Wire | None = None
    online: bool = False
    timer_at: float = math.inf
    train_token: int = 0
    uplink_free: float = 0.0
    ckpt: _Checkpoint | None = None
    started: int = 0
    sent_msgs: int = 0
    sent_bytes: int = 0
    last_merge: float = 0.0
    exchanges_seen: int = 0
    model: np.ndarray | None = None  # fedavg: the model the server last gave this node
    age: int = 0  # fedavg: local steps behind `model`
    rej_base: int = 0  # the core's rejection count when it booted
    drawn: int = 0  # batch-stream position after the trainings completed so far (what a checkpoint keeps)


@dataclass
class _Job:
    key: int  # the trainer's job key
    token: int
    params: np.ndarray


@dataclass
class _Totals:
    delivered: int = 0
    lost: int = 0
    partitioned: int = 0
    to_offline: int = 0
    events: int = 0
    trainings: int = 0
    churn_events: int = 0
    crashes: int = 0


def node_ids(n: int) -> list[str]:
    """`n000`, `n001`, ... zero-padded so ids sort in index order."""
    width = max(3, len(str(n - 1)))
    return [f"n{i:0{width}d}" for i in range(n)]


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
        self._link_last: dict[tuple[int, int], float] = {}  # (src, dst) -> last arrival time
        self._rejections_retired = 0  # rejections counted by node incarnations that went down
        self.totals = _Totals()
        self.rng = random.Random(s.seed * 1_000_003 + 17)  # network randomness only
        self.algorithm = s.algorithm
        self._wall0 = time.perf_counter()

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
        macs = macs_per_sample(spec.model, datas[0], manifest)
        devices = assign(ids, dict(spec.devices.mix), spec.devices.straggler_sigma, s.seed)
        self.nodes = [
            _Node(
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
        self.core_cfg = CoreConfig(
            period=spec.gossip.period,
            jitter=spec.gossip.jitter,
            merge=spec.gossip.merge,
            exchange_timeout=spec.gossip.exchange_timeout,
            heartbeat_interval=spec.liveness.heartbeat_interval,
            peer_timeout=spec.liveness.peer_timeout,
            local_steps=spec.model.local_steps,
        )
        self._identities = [Identity.from_seed(_seed_bytes(s.seed, "identity", nid)) for nid in ids]
        self._verify = verify_keys({nid: ident.public_key for nid, ident in zip(ids, self._identities)})
        self._members = frozenset(ids)
        init = self.learners[0].initial_params()
        for n in self.nodes:
            n.ckpt = _Checkpoint(init, 0, 0, {}, {}, 0, None)
        self.eval_nodes = self._eval_sample()
        self.schedule = churn_schedule(spec.churn, ids, s.duration, s.seed, base_dir=self.base)
        self._partitions = self._partition_groups()
        # fedavg trains its picked nodes in one batch per round, in the event loop
        mode = "off" if s.algorithm == "fedavg" else s.train_process
        in_flight = sum(self._train_seconds(n, spec.model.local_steps) for n in self.nodes) / spec.gossip.period
        self.trainer: Trainer = make_trainer(mode, self.learners, manifest.size, in_flight)
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

    def _eval_sample(self) -> list[_Node]:
        k = self.spec.sim.eval_nodes
        if k == 0 or k >= len(self.nodes):
            return list(self.nodes)
        idx = sorted(np.random.default_rng([self.spec.sim.seed, 0xE7]).choice(len(self.nodes), k, replace=False))
        return [self.nodes[i] for i in idx]

    def _partition_groups(self) -> list[tuple[float, float, frozenset[str]]]:
        out = []
        for k, p in enumerate(self.spec.network.partitions):
            rng = np.random.default_rng([self.spec.sim.seed, 0xBA, k])
            cut = rng.permutation(len(self.ids))[: max(1, round(p.fraction * len(self.ids)))]
            out.append((p.start, p.end, frozenset(self.ids[i] for i in cut)))
        return out

    def _wire(self, node: _Node, seq: SequenceCounter, replay: ReplayGuard) -> Wire:
        ident = self._identities[node.idx]
        wcfg = WireConfig()
        if self.spec.sim.fast:
            return PlainWire(node.id, self._members, self.manifest, seq, replay, wcfg)  # type: ignore[arg-type]
        return Wire(node.id, Keyring.shared(ident, self._verify), self.manifest, seq, replay, wcfg)

    # --- event queue -----------------------------------------------------------------------------

    def _push(self, t: float, kind: int, payload: Any) -> None:
        self._n += 1
        heapq.heappush(self._heap, (t, self._n, kind, payload))

    # --- node lifecycle --------------------------------------------------------------------------

    def _boot(self, node: _Node) -> None:
        """Start `node` like a (re)started process from its last checkpoint."""
        ck = node.ckpt
        assert ck is not None
        # every boot is a new incarnation (fresh RNG stream), even one that crashed before its
        # first checkpoint; a real process counts starts in its state file, written at boot
        node.started += 1
        seq = SequenceCounter.resume(ck.seq_reserved or None, self.now)
        replay = ReplayGuard(1024, ck.replay_marks)
        node.wire = self._wire(node, seq, replay)
        node.drawn = ck.samples_drawn
        self.trainer.restore(node.idx, ck.samples_drawn)
        if ck.local_state is not None:
            node.learner.load_local_state(ck.local_state)
        node.core = make_core(
            self.algorithm,
            node_id=node.id,
            neighbours=node.neighbours,
            members=self.ids,
            wire=node.wire,
            params=ck.params,
            weight=float(len(node.data.train)),
            cfg=self.core_cfg,
            rng=random.Random(_seed_int(self.spec.sim.seed, node.id, node.started)),
            counters=Counters.from_dict(ck.counters) if ck.counters else Counters(),
            age=ck.age,
            options=self.spec.algorithm,
        )
        node.online = True
        node.timer_at = math.inf
        node.exchanges_seen = node.core.counters.exchanges
        node.rej_base = node.core.counters.rejected
        node.last_merge = self.now
        self._apply(node, node.core.start(self.now))

    def _checkpoint(self, node: _Node) -> None:
        core, wire = node.core, node.wire
        if core is None or wire is None:
            return
        node.ckpt = _Checkpoint(
            params=core.params,
            age=core.age,
            seq_reserved=wire.seq.reserved,
            replay_marks=wire.replay.marks(),
            counters=core.counters.as_dict(),
            samples_drawn=node.drawn,
            local_state=node.learner.local_state() if hasattr(node.learner, "local_state") else None,
        )
        wire.seq.persisted()

    def _down(self, node: _Node, crash: bool) -> None:
        self._rejections_retired += node.core.counters.rejected - node.rej_base
        if not crash:
            self._checkpoint(node)
        else:
            self.totals.crashes += 1
        node.online = False
        node.train_token += 1
        job = self._jobs.pop(node.idx, None)
        if job is not None:
            self.trainer.discard(job.key)
        node.timer_at = math.inf

    # --- actions -----------------------------------------------------------------------------------

    def _apply(self, node: _Node, actions: list[Any]) -> None:
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
                self._push(self.now + self._train_seconds(node, a.steps), _TRAINED, (node.idx, node.train_token))
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

    def _send(self, node: _Node, peer: str, frames: list[bytes]) -> None:
        size = len(frames[0]) + len(frames[1]) + len(frames[2])
        node.sent_msgs += 1
        node.sent_bytes += size
        net = self.spec.network
        start = self.now
        if net.bandwidth_mbps > 0:
            start = max(self.now, node.uplink_free)
            node.uplink_free = start + size * 8 / (net.bandwidth_mbps * 1e6)
            start = node.uplink_free
        if net.loss and self.rng.random() < net.loss:
            self.totals.lost += 1
            return
        for t0, t1, cut in self._partitions:
            if t0 <= self.now < t1 and ((node.id in cut) != (peer in cut)):
                self.totals.partitioned += 1
                return
        arrival = start + net.latency + (net.jitter * self.rng.random() if net.jitter else 0.0)
        dst = self.by_id.get(peer)
        if dst is None:
            self.totals.lost += 1
            return
        # a link is FIFO, like the TCP connection under ZeroMQ: jitter may delay a message but
        # never lets it overtake an earlier one on the same link
        link = (node.idx, dst.idx)
        arrival = max(arrival, self._link_last.get(link, 0.0))
        self._link_last[link] = arrival
        self._push(arrival, _MSG, (dst.idx, frames))

    # --- training ----------------------------------------------------------------------------------

    def _train_seconds(self, node: _Node, steps: int) -> float:
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
                self._run_fedavg()
            else:
                self._run_nodes()
        finally:
            self.trainer.close()
            self._metrics.close()
        return self._finish()

    def _run_nodes(self) -> None:
        s = self.spec.sim
        for nid in sorted(self.schedule.initial_online):
            self._boot(self.by_id[nid])
        for ev in self.schedule.events:
            self._push(ev.time, _CHURN, ev)
        self._schedule_common()
        with _Progress(s.duration, self.progress, s.name) as bar:
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
                            self._checkpoint(node)
                    self._push(t + s.checkpoint_interval, _CKPT, None)
                elif kind == _SAMPLE:
                    self._sample()
                    bar.update(t)
                    if t + s.sample_interval <= s.duration + 1e-9:
                        self._push(t + s.sample_interval, _SAMPLE, None)
            self.now = s.duration

    def _schedule_common(self) -> None:
        s = self.spec.sim
        self._push(s.checkpoint_interval, _CKPT, None)
        self._push(0.0, _SAMPLE, None)

    def _churn(self, ev: ChurnEvent) -> None:
        node = self.by_id[ev.node]
        self.totals.churn_events += 1
        if ev.up and not node.online:
            self._boot(node)
        elif not ev.up and node.online:
            self._down(node, ev.crash)

    # --- fedavg reference --------------------------------------------------------------------------

    def _run_fedavg(self) -> None:
        """Central FedAvg (simulator-only reference): a server with perfect links to every node.

        Each round (`gossip.period`) every online node downloads the global model (offline nodes
        keep the one they had), the server picks a `sim.fedavg_fraction` share of them, each
        trains `model.local_steps` steps (its device's time plus both transfers), and the server
        averages, weighted by train size, the updates that came back before the round ends from
        nodes still online. Messages and bytes per node count the uploads (what a node sends).
        """
        s, period = self.spec.sim, self.spec.gossip.period
        glob = self.learners[0].initial_params()
        online = set(self.schedule.initial_online)
        events = list(self.schedule.events)
        ei = 0
        rng = np.random.default_rng([s.seed, 0xFA])
        nbytes = self.manifest.nbytes + 400
        bw = self.spec.network.bandwidth_mbps
        transfer = (nbytes * 8 / (bw * 1e6) if bw > 0 else 0.0) + self.spec.network.latency
        next_sample = 0.0
        glob_age = 0
        for n in self.nodes:
            n.model = glob
        with _Progress(s.duration, self.progress, s.name) as bar:
            t = 0.0
            while t <= s.duration + 1e-9:
                while ei < len(events) and events[ei].time <= t:
                    ev = events[ei]
                    (online.add if ev.up else online.discard)(ev.node)
                    ei += 1
                while next_sample <= t + 1e-9 and next_sample <= s.duration + 1e-9:
                    self.now = next_sample
                    for n in self.nodes:
                        n.online = n.id in online
                    self._sample()
                    bar.update(next_sample)
                    next_sample += s.sample_interval
                cands = sorted(online, key=lambda x: self.by_id[x].idx)
                for p in cands:  # online nodes download the current global model
                    node = self.by_id[p]
                    node.model, node.age, node.last_merge = glob, glob_age, t
                if cands:
                    k = max(1, round(s.fedavg_fraction * len(cands)))
                    picked = [cands[i] for i in sorted(rng.choice(len(cands), k, replace=False))]
                    jobs = [(self.by_id[p].learner, glob, self.spec.model.local_steps) for p in picked]
                    results = many.train_many(jobs)
                    self.totals.trainings += len(jobs)
                    # who is still online when its upload would arrive, within the round
                    upto = t + period
                    acc = np.zeros(glob.shape, dtype=np.float64)
                    wsum = 0.0
                    for p, (after, _stats) in zip(picked, results):
                        node = self.by_id[p]
                        done = t + 2 * transfer + self._train_seconds(node, self.spec.model.local_steps)
                        node.sent_msgs += 1
                        node.sent_bytes += nbytes
                        if done > upto or p not in self.schedule.online_at(done):
                            continue
                        w = float(len(node.data.train))
                        acc += w * after.astype(np.float64)
                        wsum += w
                    if wsum > 0:
                        glob = (acc / wsum).astype(PARAM_DTYPE)
                        glob_age += self.spec.model.local_steps
                t += period
        self.now = s.duration

    # --- metrics -----------------------------------------------------------------------------------

    def _model(self, node: _Node) -> np.ndarray:
        if node.model is not None and self.algorithm == "fedavg":
            return node.model
        if node.online and node.core is not None:
            return node.core.model()
        assert node.ckpt is not None
        return node.ckpt.params

    def _consensus_model(self) -> dict[str, Any]:
        """Accuracy of the network's average model (weighted by train size), as each node would use it.

        Without personalisation this is *the global model*: its accuracy on every node's own
        held-out data is what personalisation is measured against. With `personalize = "head"`
        each node applies its own head to the average body; with "finetune", its own fine-tuning.
        """
        w = np.array([len(n.data.train) for n in self.nodes], dtype=np.float64)
        avg = (np.stack([self._model(n).astype(np.float64) for n in self.nodes]).T @ (w / w.sum())).astype(PARAM_DTYPE)
        local = distribution([many.accuracy(n.learner, avg, n.data.test) for n in self.nodes])
        held = None
        if self.heldout is not None:
            # one shared model scores the same through every plain learner: score it once
            scorers = self.eval_nodes if self.spec.model.personalize != "none" else self.eval_nodes[:1]
            held = distribution([many.accuracy(n.learner, avg, self.heldout) for n in scorers])["mean"]
        return {"local_acc_mean": local["mean"], "local_acc_p10": local["worst10"], "acc_mean": held}

    def _age(self, node: _Node) -> int:
        """Local steps behind the node's current model (what `_model` returns)."""
        if self.algorithm == "fedavg":
            return node.age
        if node.online and node.core is not None:
            return int(node.core.age)
        assert node.ckpt is not None
        return node.ckpt.age

    def _sample(self) -> None:
        nodes = self.eval_nodes
        models = [self._model(n) for n in nodes]
        held = many.accuracy_many([n.learner for n in nodes], models, self.heldout) if self.heldout is not None else [None] * len(nodes)
        local = [many.accuracy(n.learner, m, n.data.test) for n, m in zip(nodes, models)]
        X = np.stack([np.asarray(m, dtype=np.float64) for m in models]) if models else np.zeros((0, 1))
        consensus = float(np.mean(np.linalg.norm(X - X.mean(axis=0), axis=1))) if len(models) > 1 else 0.0
        held_d, local_d = distribution(held), distribution(local)
        online = [n for n in self.nodes if n.online]
        # every rejection since the start of the run, across crashes and restarts
        rejections = self._rejections_retired + sum(n.core.counters.rejected - n.rej_base for n in online if n.core is not None)
        rec = {
            "t": round(self.now, 6),
            "acc_mean": held_d["mean"],
            "acc_median": held_d["median"],
            "acc_p10": held_d["worst10"],
            "local_acc_mean": local_d["mean"],
            "local_acc_p10": local_d["worst10"],
            "consensus": consensus,
            "online": len(online) / len(self.nodes),
            "msgs_per_node": sum(n.sent_msgs for n in self.nodes) / len(self.nodes),
            "bytes_per_node": sum(n.sent_bytes for n in self.nodes) / len(self.nodes),
            "age_mean": float(np.mean([self._age(n) for n in self.nodes])),
            "staleness": float(np.mean([self.now - n.last_merge for n in online])) if online else None,
            "rejections": rejections,
            "local_acc": {n.id: (None if v is None else round(v, 6)) for n, v in zip(nodes, local)},
        }
        self.last_record = rec
        self._metrics.write(rec)

    def _finish(self) -> dict[str, Any]:
        s = self.spec.sim
        outcomes = []
        for n in self.nodes:
            m = self._model(n)
            outcomes.append(
                NodeOutcome(
                    node=n.id,
                    group=n.group,
                    local_true=n.data.test.y,
                    local_pred=n.learner.predict(m, n.data.test.X),
                    heldout_pred=n.learner.predict(m, self.heldout.X) if self.heldout is not None else None,
                )
            )
        d0 = self.nodes[0].data
        consensus_model = self._consensus_model()
        evaluation = evaluate_run(
            outcomes, self.heldout, d0.n_classes, d0.label_names, extra={"consensus_model": consensus_model}
        )
        write_evaluation(self.out, evaluation)
        final = {k: v for k, v in self.last_record.items() if k != "local_acc"}
        wall = time.perf_counter() - self._wall0
        node_updates = self.totals.trainings
        summary = {
            "name": s.name,
            "algorithm": s.algorithm,
            "nodes": len(self.nodes),
            "seed": s.seed,
            "fast": s.fast,
            "duration": s.duration,
            "topology": self.spec.topology.spec,
            "churn": self.spec.churn.preset or self.spec.churn.model,
            "model": self.manifest.arch,
            "params": self.manifest.size,
            "final": final,
            "wall_seconds": round(wall, 3),
            "setup_seconds": round(self.setup_seconds, 3),
            "train_process": isinstance(self.trainer, WorkerTrainer),
            "node_updates": node_updates,
            "node_updates_per_second": round(node_updates / max(wall - self.setup_seconds, 1e-9), 1),
            "events": self.totals.events,
            "messages": {
                "delivered": self.totals.delivered,
                "lost": self.totals.lost,
                "partitioned": self.totals.partitioned,
                "to_offline_node": self.totals.to_offline,
            },
            "churn_events": self.totals.churn_events,
            "crashes": self.totals.crashes,
            "online_fraction": self.schedule.online_fraction(0.0, s.duration),
            "consensus_model": consensus_model,
        }
        tmp = self.out / "summary.json.tmp"
        tmp.write_text(json.dumps(json_safe(summary), indent=2) + "\n")
        tmp.replace(self.out / "summary.json")
        return summary


def run_simulation(spec: SimSpec, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Run `spec`, writing spec.toml, metrics.jsonl, evaluation.json and summary.json to `out_dir`."""
    return Simulation(spec, out_dir, progress).run()


# --- helpers ---------------------------------------------------------------------------------------


def _seed_int(seed: int, node_id: str, started: int) -> int:
    return int.from_bytes(_seed_bytes(seed, "core", node_id, str(started))[:8], "big")


class _Progress:
    """A rich progress bar over virtual time (with ETA), or nothing."""

    def __init__(self, total: float, enabled: bool, name: str) -> None:
        self.enabled = enabled
        self.total = total
        self.name = name

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._p = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} virtual s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._p.__enter__()
            self._task = self._p.add_task(self.name, total=self.total)
        return self

    def update(self, t: float) -> None:
        if self.enabled:
            self._p.update(self._task, completed=min(t, self.total))

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._p.update(self._task, completed=self.total)
            self._p.__exit__(*exc)

