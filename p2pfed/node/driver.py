"""Async driver of a node core: feeds it messages and timers, runs training, metrics and checkpoints.

Torch work (training, evaluation) runs on one worker thread so the event loop keeps receiving
and answering while a model trains; the core applies the training result as a delta, so merges
that arrive meanwhile are kept.  Nothing a peer sends can stop the loops: the core rejects bad
input, and any bug at the message boundary is logged and counted, not raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from p2pfed.gossip.algorithms import ProtocolCore
from p2pfed.gossip.core import Action, Send, Train
from p2pfed.learning.base import Learner
from p2pfed.node.lifecycle import NodeLifecycle
from p2pfed.node.metrics import MetricsLog
from p2pfed.transport.base import Transport
from p2pfed.types import Split

log = logging.getLogger(__name__)


class NodeDriver:
    """Runs one node core on a `Transport` in real time until stopped; its lifecycle checkpoints it."""

    def __init__(
        self,
        core: ProtocolCore,
        transport: Transport,
        learner: Learner,
        *,
        local_test: Split | None = None,
        heldout: Split | None = None,
        metrics: MetricsLog | None = None,
        metrics_interval: float = 2.0,
        lifecycle: NodeLifecycle | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.transport = transport
        self.learner = learner
        self.local_test = local_test
        self.heldout = heldout
        self.metrics = metrics
        self.metrics_interval = metrics_interval
        self.lifecycle = lifecycle
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"learner-{core.node_id}")
        self._wake = asyncio.Event()
        self._training: asyncio.Task[None] | None = None
        self.started_at = 0.0
        self.last_record: dict[str, Any] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; then write a final checkpoint and metrics line and close."""
        self.started_at = self.clock()
        self._execute(self.core.start(self.started_at))
        loops = [
            asyncio.create_task(self._recv_loop(), name="recv"),
            asyncio.create_task(self._timer_loop(), name="timer"),
            asyncio.create_task(self._every(self.metrics_interval, self._write_metrics), name="metrics"),
        ]
        if self.lifecycle is not None:
            loops.append(asyncio.create_task(self._checkpoint_loop(), name="checkpoint"))
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *loops], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not stopper and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            for t in [stopper, *loops]:
                t.cancel()
            await asyncio.gather(stopper, *loops, return_exceptions=True)
            if self._training is not None:
                await asyncio.gather(self._training, return_exceptions=True)
            try:
                await self._write_metrics(final=True)
            except Exception:
                log.exception("final metrics failed")
            if self.lifecycle is not None:
                self.lifecycle.leave(self.clock())  # graceful: the final checkpoint
            if self.metrics is not None:
                self.metrics.close()
            await self.transport.close()
            self._executor.shutdown(wait=True)

    # --- loops --------------------------------------------------------------------------------

    async def _recv_loop(self) -> None:
        while True:
            incoming = await self.transport.recv()
            try:
                actions = self.core.on_message(self.clock(), incoming.frames)
            except Exception:  # a bug, not hostile input: the core rejects that itself
                self.core.counters.internal_errors += 1
                log.exception("internal error handling a message from %s", incoming.hint)
                continue
            self._execute(actions)

    async def _timer_loop(self) -> None:
        while True:
            self._execute(self.core.on_timer(self.clock()))
            delay = min(max(self.core.next_deadline() - self.clock(), 0.0), 1.0)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay + 0.001)
            except TimeoutError:
                pass

    async def _every(self, interval: float, fn: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(interval)
            await fn()

    async def _checkpoint_loop(self) -> None:
        assert self.lifecycle is not None
        while True:
            await asyncio.sleep(0.2)
            now = self.clock()
            if self.lifecycle.due(now):
                self.lifecycle.checkpoint(now)

    # --- actions ------------------------------------------------------------------------------

    def _execute(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Send):
                if not self.transport.send(a.peer, a.frames):
                    self.core.counters.send_failures += 1
            elif isinstance(a, Train):
                self._training = asyncio.create_task(self._train(a))
        if actions:
            self._wake.set()

    async def _train(self, action: Train) -> None:
        loop = asyncio.get_running_loop()
        try:
            new, stats = await loop.run_in_executor(self._executor, self.learner.train, action.params, action.steps)
        except Exception:
            log.exception("local training failed; this round goes on with the untrained model")
            self._execute(self.core.on_trained(self.clock(), action.params, None))
            return
        self._execute(self.core.on_trained(self.clock(), action.params, new, stats))

    # --- metrics ------------------------------------------------------------------------------

    async def _evaluate(self, params: np.ndarray, split: Split | None) -> tuple[float | None, float | None]:
        if split is None or len(split) == 0:
            return None, None
        loop = asyncio.get_running_loop()
        ev = await loop.run_in_executor(self._executor, self.learner.evaluate, params, split)
        return ev.accuracy, ev.loss

    async def _write_metrics(self, final: bool = False) -> None:
        now = self.clock()
        params = self.core.params
        local_acc, local_loss = await self._evaluate(params, self.local_test)
        held_acc, held_loss = await self._evaluate(params, self.heldout)
        record: dict[str, Any] = {
            "t": round(now, 3),
            "elapsed": round(now - self.started_at, 3),
            "node": self.core.node_id,
            "final": final,
            "local_acc": local_acc,
            "local_loss": local_loss,
            "heldout_acc": held_acc,
            "heldout_loss": held_loss,
            "age": self.core.age,
            "neighbours": len(self.core.neighbours),
            "alive": len(self.core.alive_neighbours(now)),
            **self.core.counters.as_dict(),
        }
        self.last_record = record
        if self.metrics is not None:
            self.metrics.write(record)
