"""In-process network of asyncio queues that can drop, delay and partition messages.

It is the fake network of the tests and the network of the simulator: a `MemoryNetwork` holds
the endpoints, each node gets a `MemoryTransport` from `network.endpoint(node_id)`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Sequence

from p2pfed.transport.base import Incoming


class MemoryNetwork:
    """Endpoints by id plus the link model: loss probability, delay +- jitter, partitions."""

    def __init__(
        self,
        seed: int = 0,
        loss: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        queue_size: int = 1000,
    ) -> None:
        if not 0 <= loss <= 1:
            raise ValueError("loss must be in [0, 1]")
        self.rng = random.Random(seed)
        self.loss = loss
        self.delay = delay
        self.jitter = jitter
        self.queue_size = queue_size
        self._endpoints: dict[str, MemoryTransport] = {}
        self._group: dict[str, int] = {}
        self.delivered = 0
        self.dropped = 0

    def endpoint(self, node_id: str) -> MemoryTransport:
        old = self._endpoints.get(node_id)
        if old is not None and not old.closed:
            raise ValueError(f"endpoint {node_id!r} is already open")
        ep = MemoryTransport(self, node_id)
        self._endpoints[node_id] = ep
        return ep

    def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """Only nodes in the same group can talk; nodes in no group are isolated."""
        self._group = {n: i for i, g in enumerate(groups) for n in g}

    def heal(self) -> None:
        self._group = {}

    def _connected(self, a: str, b: str) -> bool:
        if not self._group:
            return True
        ga, gb = self._group.get(a), self._group.get(b)
        return ga is not None and ga == gb

    def _deliver(self, src: str, dst: str, frames: Sequence[bytes]) -> bool:
        ep = self._endpoints.get(dst)
        if ep is None or ep.closed or not self._connected(src, dst):
            self.dropped += 1
            return False
        if self.loss and self.rng.random() < self.loss:
            self.dropped += 1
            return True  # lost in flight: the sender cannot tell
        item = Incoming(src, [bytes(f) for f in frames])
        d = self.delay + (self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
        if d > 0:
            asyncio.get_running_loop().call_later(d, ep._put, item)
        else:
            ep._put(item)
        return True


class MemoryTransport:
    """One node's endpoint on a `MemoryNetwork`."""

    def __init__(self, network: MemoryNetwork, node_id: str) -> None:
        self.network = network
        self.node_id = node_id
        self.closed = False
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue()

    def _put(self, item: Incoming) -> None:
        if self.closed or self._queue.qsize() >= self.network.queue_size:
            self.network.dropped += 1
            return
        self.network.delivered += 1
        self._queue.put_nowait(item)

    def send(self, peer: str, frames: Sequence[bytes]) -> bool:
        if self.closed:
            return False
        return self.network._deliver(self.node_id, peer, frames)

    async def recv(self) -> Incoming:
        if self.closed:
            raise ConnectionError("transport closed")
        return await self._queue.get()

    async def close(self) -> None:
        self.closed = True
