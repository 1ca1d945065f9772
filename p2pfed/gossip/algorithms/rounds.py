"""Synchronous rounds aligned to the clock, shared by D-PSGD and Epidemic Learning (sans I/O).

Round r spans `[r * period, (r + 1) * period)`; a node joins at the first round that starts
after it started.  At a round's start a node trains `local_steps` steps,
then sends its model (tagged with r) to the round's targets; at the round deadline,
`r * period + round_deadline * period`, it averages its own model with the round-r models that
have arrived, and round r + 1 is next.  A model tagged with a round already averaged is ignored
(counted as `stale_round`); one tagged with the next round (a sender whose clock runs slightly
ahead) is kept for that round; anything further ahead is ignored (`future_round`).  A neighbour
that is down or slow therefore costs at most one deadline, never a stall.

If training is still running at the deadline, the round is averaged with the pre-training model
and the training result is applied on top when it arrives (as a delta), but not sent: that round
is over.  If the driver wakes late by more than a round (a node that was suspended or offline),
the missed rounds are skipped (counted as idle rounds), never replayed.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from p2pfed.gossip.algorithms.base import FUTURE_ROUND, STALE_ROUND, ModelCore, Peer
from p2pfed.gossip.core import Action, Train
from p2pfed.wire.envelope import Message

log = logging.getLogger(__name__)


class RoundCore(ModelCore):
    """Round clock, per-round inbox and the train -> send -> average cycle; subclasses pick targets and weights."""

    def _init_model(self, params: np.ndarray) -> None:
        super()._init_model(params)
        if not (math.isfinite(self.cfg.period) and self.cfg.period > 0):
            raise ValueError("the round period must be positive")
        self.options = self.spec.options
        self.round = 0  # the round being collected (or about to start)
        self._active = False  # round `self.round` has started and its deadline has not passed
        self._train_round = -1  # the round the outstanding Train action belongs to
        # round -> sender -> (model, the MODEL message's weight field)
        self.inbox: dict[int, dict[str, tuple[np.ndarray, float]]] = {}

    # --- round clock --------------------------------------------------------------------------------

    def round_start(self, r: int) -> float:
        return r * self.cfg.period

    def round_deadline(self, r: int) -> float:
        return (r + self.options.round_deadline) * self.cfg.period

    def _schedule_start(self, now: float) -> None:
        # join at the first round that starts after `now`, so the start-up heartbeats have
        # arrived (and neighbours are known alive) by the time the first models are sent
        self.round = math.floor(now / self.cfg.period) + 1

    def _tick_deadline(self) -> float:
        return self.round_deadline(self.round) if self._active else self.round_start(self.round)

    def _tick(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while True:
            if self._active:
                if now < self.round_deadline(self.round):
                    return actions
                self._finish_round(now)
                self._active = False
                self.round += 1
                continue
            if now >= self.round_deadline(self.round):  # woke up late: skip the rounds we missed
                r = math.floor(now / self.cfg.period)
                if now >= self.round_deadline(r):
                    r += 1
                skipped = max(r - self.round, 0)
                self.counters.idle_rounds += skipped
                log.info("%s: skipped %d round(s) (the node was not running)", self.node_id, skipped)
                self._drop_inbox_before(r)
                self.round = max(r, self.round + 1)
                continue
            if now >= self.round_start(self.round):
                self._active = True
                self.counters.rounds += 1
                actions.extend(self._begin_round(now))
            return actions

    def _begin_round(self, now: float) -> list[Action]:
        if self.training:  # last round's training is still running: send the model we have
            log.debug("%s: round %d started while training; sending the untrained model", self.node_id, self.round)
            return self._send_round(now)
        if self.cfg.local_steps > 0:
            self.training = True
            self._train_round = self.round
            return [Train(self.params, self.cfg.local_steps)]
        return self._send_round(now)

    def _after_training(self, now: float) -> list[Action]:
        if self._active and self._train_round == self.round and now < self.round_deadline(self.round):
            return self._send_round(now)
        log.debug("%s: training for round %d finished after its deadline; not sent", self.node_id, self._train_round)
        return []

    def _finish_round(self, now: float) -> None:
        received = self.inbox.pop(self.round, {})
        self._drop_inbox_before(self.round + 1)
        self.params = self._aggregate(received, now)
        self.counters.exchanges += len(received)

    def _drop_inbox_before(self, r: int) -> None:
        for old in [k for k in self.inbox if k < r]:
            del self.inbox[old]

    # --- receiving --------------------------------------------------------------------------------------

    def _on_model(self, now: float, msg: Message, peer: Peer) -> list[Action]:
        x, ack = self._receive_model(now, msg, peer)
        if x is None:
            return [ack]
        r = msg.fields.round
        if not self._accepts_from(msg.sender):
            return [ack]
        if r < self.round or (r == self.round and self._active and now >= self.round_deadline(r)):
            self._rejected(
                STALE_ROUND, f"{msg.sender}'s model for round {r} arrived after that round (now {self.round})"
            )
        elif r > self.round + 1:
            self._rejected(
                FUTURE_ROUND, f"{msg.sender} sent a model for round {r}, we are at {self.round}: clocks differ"
            )
        else:
            self.inbox.setdefault(r, {})[msg.sender] = (x, msg.fields.weight)
        return [ack]

    # --- algorithm hooks ------------------------------------------------------------------------------------

    def _accepts_from(self, sender: str) -> bool:
        """Whether a model from `sender` may enter a round (it is rejected and counted otherwise)."""
        return True

    def _send_round(self, now: float) -> list[Action]:
        raise NotImplementedError

    def _aggregate(self, received: dict[str, tuple[np.ndarray, float]], now: float) -> np.ndarray:
        raise NotImplementedError
