"""Asynchronous push-pull gossip averaging ("gossip", the default), as a sans-I/O node core.

Protocol (design.md section 4):
- every `period` (+- jitter) a node trains `local_steps` steps, then PUSHes its model to a random
  live neighbour; the neighbour REPLYs with its own pre-merge model and both take the average
  (weighted by training-set size with `merge = "weighted"`), so the weighted sum of all models is
  conserved and repeated exchanges drive every model to the FedAvg target with no server;
- models travel as deltas against the reference the receiver acknowledged, else as keyframes;
  a REPLY's ack tells the initiator whether the responder could merge (0: it could not, so
  neither does the initiator);
- an exchange unanswered for `exchange_timeout` is dropped; a late REPLY is still a sound plain
  average;
- liveness, heartbeats, acks and the authenticated receive path are `BaseCore`'s.
"""

from __future__ import annotations

import logging

import numpy as np

from p2pfed.gossip import averaging
from p2pfed.wire.codec import Fields, Kind
from p2pfed.errors import Reason
from p2pfed.gossip.algorithms.base import ModelCore, Peer
from p2pfed.gossip.core import Action, Send
from p2pfed.wire.envelope import Message

log = logging.getLogger(__name__)


class NodeCore(ModelCore):
    """Push-pull gossip averaging; `params` is the node's current model (never mutated in place)."""

    algorithm = "gossip"

    def _init_model(self, params: np.ndarray) -> None:
        super()._init_model(params)
        # push seq -> (peer, sent at, the model as the peer will rebuild it)
        self._pending: dict[int, tuple[str, float, np.ndarray]] = {}

    # --- hooks of BaseCore / ModelCore ----------------------------------------------------------

    def _tick(self, now: float) -> list[Action]:
        for seq, (peer, sent, _) in list(self._pending.items()):
            if now >= sent + self.cfg.exchange_timeout:
                del self._pending[seq]
                self.counters.timeouts += 1
                log.debug("exchange with %s timed out", peer)
        return self._periodic_tick(now)

    def _after_training(self, now: float) -> list[Action]:
        return self._push(now)

    def _tick_deadline(self) -> float:
        t = super()._tick_deadline()
        if self._pending:  # the first exchange to time out
            return min(t, min([sent for _, sent, _ in self._pending.values()]) + self.cfg.exchange_timeout)
        return t

    def _on_payload(self, now: float, msg: Message, peer: Peer) -> list[Action]:
        if msg.kind is Kind.MODEL:  # a one-way model: the sender runs another algorithm
            self._rejected(
                Reason.WRONG_ALGORITHM, f"{msg.sender} sent a one-way MODEL message; all members must run one algorithm"
            )
            return []
        assert msg.payload is not None
        x_peer = peer.inc.decode(msg.seq, msg.fields.base, msg.payload)
        if x_peer is None:
            self._rejected(Reason.MISSING_REFERENCE, f"{msg.sender} sent a delta against {msg.fields.base}")
        elif msg.fields.base and not np.isfinite(x_peer).all():  # a keyframe is the payload, checked by the codec
            peer.inc.reset()
            x_peer = None
            self._rejected(Reason.NON_FINITE, f"model reconstructed from {msg.sender}")
        if msg.kind is Kind.PUSH:
            # answer with our pre-merge model; ack=0 tells the initiator we could not merge
            reply = self._model_message(Kind.REPLY, msg.sender, now, re=msg.seq, ack=msg.seq if x_peer is not None else 0)
            if x_peer is not None:
                self.params = averaging.merge(self.params, self.weight, x_peer, msg.fields.weight)
                self.counters.replies += 1
                self.counters.exchanges += 1
            return [reply]
        # REPLY
        pending = self._pending.pop(msg.fields.re, None)
        if x_peer is None:
            return [self._heartbeat(msg.sender, now, ack=0)]
        if msg.fields.ack != msg.fields.re:
            return []  # the responder could not use our model: it did not merge, neither do we
        if pending is None or pending[0] != msg.sender:
            # late reply (our exchange had timed out): a plain average is still sound
            self.params = averaging.merge(self.params, self.weight, x_peer, msg.fields.weight)
        else:
            # apply the exchange relative to the model we sent, so merges and training that
            # happened meanwhile are kept and the weighted sum of models is conserved exactly
            sent = pending[2]
            self._apply_update(sent, averaging.merge(sent, self.weight, x_peer, msg.fields.weight))
        self.counters.exchanges += 1
        return []

    # --- internals ----------------------------------------------------------------------------------

    def _push(self, now: float) -> list[Action]:
        peer = self._pick_alive(now)
        if peer is None:
            return []
        action = self._model_message(Kind.PUSH, peer, now)
        self.counters.pushes += 1
        return [action]

    def _model_message(self, kind: Kind, peer: str, now: float, re: int = 0, ack: int | None = None) -> Send:
        st = self._peers[peer]
        base, payload, rebuilt = st.out.encode(self.params)
        fields = Fields(ack=st.inc.newest if ack is None else ack, base=base, weight=self.weight, age=self.age, re=re)
        seq, send = self._seal(kind, peer, fields, payload, now)
        st.out.sent(seq, rebuilt)
        if base == 0:
            self.counters.keyframes_out += 1
        if kind is Kind.PUSH:
            self._pending[seq] = (peer, now, rebuilt)
        return send
