"""The central FedAvg reference (simulator only): a server with perfect links to every node, round by round."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from p2pfed.learning import many
from p2pfed.sim.progress import VirtualProgress
from p2pfed.types import PARAM_DTYPE

if TYPE_CHECKING:
    from p2pfed.sim.engine import Simulation


def run_fedavg(sim: Simulation) -> None:
    """Play central FedAvg over the simulation's nodes, data, devices and churn schedule.

    Each round (`gossip.period`) every online node downloads the global model (offline nodes
    keep the one they had), the server picks a `sim.fedavg_fraction` share of them, each
    trains `model.local_steps` steps (its device's time plus both transfers), and the server
    averages, weighted by train size, the updates that came back before the round ends from
    nodes still online. Messages and bytes per node count the uploads (what a node sends).
    """
    spec = sim.spec
    s, period, steps = spec.sim, spec.gossip.period, spec.model.local_steps
    glob = sim.init
    online = set(sim.schedule.initial_online)
    events = list(sim.schedule.events)
    ei = 0
    rng = np.random.default_rng([s.seed, 0xFA])
    nbytes = sim.manifest.nbytes + 400
    bw = spec.network.bandwidth_mbps
    transfer = (nbytes * 8 / (bw * 1e6) if bw > 0 else 0.0) + spec.network.latency
    next_sample = 0.0
    glob_age = 0
    for n in sim.nodes:
        n.model = glob
    with VirtualProgress(s.duration, sim.progress, s.name) as bar:
        t = 0.0
        while t <= s.duration + 1e-9:
            while ei < len(events) and events[ei].time <= t:
                ev = events[ei]
                (online.add if ev.up else online.discard)(ev.node)
                ei += 1
            while next_sample <= t + 1e-9 and next_sample <= s.duration + 1e-9:
                sim.now = next_sample
                for n in sim.nodes:
                    n.online = n.id in online
                sim.sample()
                bar.update(next_sample)
                next_sample += s.sample_interval
            cands = sorted(online, key=lambda x: sim.by_id[x].idx)
            for p in cands:  # online nodes download the current global model
                node = sim.by_id[p]
                node.model, node.age, node.last_merge = glob, glob_age, t
            if cands:
                k = max(1, round(s.fedavg_fraction * len(cands)))
                picked = [cands[i] for i in sorted(rng.choice(len(cands), k, replace=False))]
                results = many.train_many([(sim.by_id[p].learner, glob, steps) for p in picked])
                sim.totals.trainings += len(picked)
                # who is still online when its upload would arrive, within the round
                upto = t + period
                acc = np.zeros(glob.shape, dtype=np.float64)
                wsum = 0.0
                for p, (after, _stats) in zip(picked, results):
                    node = sim.by_id[p]
                    done = t + 2 * transfer + sim.train_seconds(node, steps)
                    node.sent_msgs += 1
                    node.sent_bytes += nbytes
                    if done > upto or p not in sim.schedule.online_at(done):
                        continue
                    w = float(len(node.data.train))
                    acc += w * after.astype(np.float64)
                    wsum += w
                if wsum > 0:
                    glob = (acc / wsum).astype(PARAM_DTYPE)
                    glob_age += steps
            t += period
    sim.now = s.duration
