"""The simulated network: each sender's uplink queue, latency and jitter, loss, partitions, FIFO links."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from p2pfed.sim.spec import NetworkSection


def partition_groups(cfg: NetworkSection, ids: Sequence[str], seed: int) -> list[tuple[float, float, frozenset[str]]]:
    """(start, end, the nodes cut off from the rest) of each `network.partitions` window."""
    out = []
    for k, p in enumerate(cfg.partitions):
        rng = np.random.default_rng([seed, 0xBA, k])
        cut = rng.permutation(len(ids))[: max(1, round(p.fraction * len(ids)))]
        out.append((p.start, p.end, frozenset(ids[i] for i in cut)))
    return out


class Network:
    """Decides when (and whether) a message arrives; its random draws are the only network randomness.

    A message costs its real size on the sender's uplink (`bandwidth_mbps`, queued behind the
    sender's earlier messages), then latency plus uniform jitter.  It can be lost at random or
    cut by a partition.  A link is FIFO, like the TCP connection under ZeroMQ: jitter may delay a
    message but never lets it overtake an earlier one on the same link.
    """

    def __init__(self, cfg: NetworkSection, ids: Sequence[str], seed: int) -> None:
        self.cfg = cfg
        self.rng = random.Random(seed * 1_000_003 + 17)
        self.index = {nid: i for i, nid in enumerate(ids)}
        self.partitions = partition_groups(cfg, ids, seed)
        self._uplink_free = [0.0] * len(ids)
        self._link_last: dict[tuple[int, int], float] = {}  # (src, dst) -> last arrival time
        self.lost = 0
        self.partitioned = 0

    def transmit(self, now: float, src: int, src_id: str, peer: str, size: int) -> tuple[int, float] | None:
        """(receiver index, arrival time) of `size` bytes sent by node `src` to `peer` at `now`; None if lost."""
        net = self.cfg
        start = now
        if net.bandwidth_mbps > 0:
            start = max(now, self._uplink_free[src]) + size * 8 / (net.bandwidth_mbps * 1e6)
            self._uplink_free[src] = start
        if net.loss and self.rng.random() < net.loss:
            self.lost += 1
            return None
        for t0, t1, cut in self.partitions:
            if t0 <= now < t1 and ((src_id in cut) != (peer in cut)):
                self.partitioned += 1
                return None
        arrival = start + net.latency + (net.jitter * self.rng.random() if net.jitter else 0.0)
        dst = self.index.get(peer)
        if dst is None:
            self.lost += 1
            return None
        link = (src, dst)
        arrival = max(arrival, self._link_last.get(link, 0.0))
        self._link_last[link] = arrival
        return dst, arrival
