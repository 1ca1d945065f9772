"""The gossip node's protocol logic, sans I/O: messages, timers and training results in, actions out.

One implementation for deployed nodes and the simulator (design.md section 3): the core never
touches sockets, clocks or torch.  A driver feeds it `on_message`, `on_timer` and `on_trained`
with the current time and executes the `Send` and `Train` actions it returns.

Protocol (asynchronous push-pull gossip averaging, design.md section 4):
- every `period` (+- jitter) a node trains `local_steps` steps, then PUSHes its model to a random
  live neighbour; the neighbour REPLYs with its own pre-merge model and both take the average;
- models travel as deltas against the reference the receiver acknowledged, else as keyframes;
- HEARTBEATs to quiet neighbours carry acknowledgements and keep liveness fresh; a neighbour
  unheard for `peer_timeout` is skipped, and when it returns it is resynced by keyframe.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from p2pfed import gossip
from p2pfed.churn import Liveness
from p2pfed.codec import Fields, Kind
from p2pfed.config import NodeConfig
from p2pfed.errors import Reason, Rejected
from p2pfed.metrics import Counters
from p2pfed.types import PARAM_DTYPE, TrainStats
from p2pfed.wire import Message

log = logging.getLogger(__name__)

#: Rejection reason for a valid message of a kind this node's algorithm never uses (mixed federation).
WRONG_ALGORITHM = Reason.WRONG_ALGORITHM


@dataclass(frozen=True)
class Send:
    """Send these frames to `peer` (best effort)."""

    peer: str
    frames: list[bytes]


@dataclass(frozen=True)
class Train:
    """Run `steps` local training steps starting from `params`, then call `on_trained`."""

    params: np.ndarray
    steps: int


Action = Send | Train


class Envelope(Protocol):
    """What the core needs from p2pfed.wire.Wire (an unencrypted variant may stand in for speed)."""

    def seal(self, kind: Kind, recipient: str, fields: Fields, payload: np.ndarray | None, now: float) -> tuple[int, list[bytes]]: ...

    def open(self, frames: Sequence[bytes]) -> Message: ...


@dataclass(frozen=True)
class CoreConfig:
    """The protocol parameters of the core (a projection of NodeConfig)."""

    period: float = 0.5
    jitter: float = 0.25
    merge: str = "weighted"
    exchange_timeout: float = 3.0
    heartbeat_interval: float = 1.0
    peer_timeout: float = 4.0
    local_steps: int = 5

    @classmethod
    def from_node_config(cls, cfg: NodeConfig) -> CoreConfig:
        return cls(
            period=cfg.gossip.period,
            jitter=cfg.gossip.jitter,
            merge=cfg.gossip.merge,
            exchange_timeout=cfg.gossip.exchange_timeout,
            heartbeat_interval=cfg.liveness.heartbeat_interval,
            peer_timeout=cfg.liveness.peer_timeout,
            local_steps=cfg.model.local_steps if cfg.runtime.train else 0,
        )


@dataclass
class _Peer:
    out: gossip.OutgoingLink = field(default_factory=gossip.OutgoingLink)
    inc: gossip.IncomingLink = field(default_factory=gossip.IncomingLink)
    last_sent: float = float("-inf")


class NodeCore:
    """Protocol state machine of one node; `params` is its current model (never mutated in place)."""

    def __init__(
        self,
        node_id: str,
        neighbours: Sequence[str],
        wire: Envelope,
        params: np.ndarray,
        weight: float,
        cfg: CoreConfig = CoreConfig(),
        rng: random.Random | None = None,
        counters: Counters | None = None,
        age: int = 0,
    ) -> None:
        if node_id in neighbours:
            raise ValueError("a node cannot be its own neighbour")
        self.node_id = node_id
        self.neighbours = tuple(neighbours)
        self._neighbour_set = frozenset(self.neighbours)
        self.wire = wire
        self.params = np.ascontiguousarray(params, dtype=PARAM_DTYPE)
        self.weight = float(weight) if cfg.merge == "weighted" else 1.0
        if not self.weight > 0:
            raise ValueError("a node's merge weight must be positive (does it hold any training data?)")
        self.cfg = cfg
        self.rng = rng or random.Random(0)
        self.counters = counters or Counters()
        self.age = age
        self.liveness = Liveness(self.neighbours, cfg.peer_timeout)
        self._peers: dict[str, _Peer] = {p: _Peer() for p in self.neighbours}
        self._neighbour_peers = [self._peers[p] for p in self.neighbours]
        # push seq -> (peer, sent at, the model as the peer will rebuild it)
        self._pending: dict[int, tuple[str, float, np.ndarray]] = {}
        self._next_round = float("inf")
        self.training = False

    # --- driver entry points ------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """First actions: greet every neighbour, schedule the first round at a random offset."""
        self._next_round = now + self.rng.uniform(0.1, 1.0) * self.cfg.period
        return [self._heartbeat(p, now) for p in self.neighbours]

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for p in self.liveness.expire(now):
            log.info("neighbour %s silent for %.1fs: skipping it until it returns", p, self.cfg.peer_timeout)
        for seq, (peer, sent, _) in list(self._pending.items()):
            if now >= sent + self.cfg.exchange_timeout:
                del self._pending[seq]
                self.counters.timeouts += 1
                log.debug("exchange with %s timed out", peer)
        if not self.training and now >= self._next_round:
            self.counters.rounds += 1
            self._next_round = now + self.cfg.period * (1 + self.rng.uniform(-self.cfg.jitter, self.cfg.jitter))
            if self.cfg.local_steps > 0:
                self.training = True
                actions.append(Train(self.params, self.cfg.local_steps))
            else:
                actions.extend(self._push(now))
        for p in self.neighbours:
            if now >= self._peers[p].last_sent + self.cfg.heartbeat_interval:
                actions.append(self._heartbeat(p, now))
        return actions

    def on_trained(
        self, now: float, before: np.ndarray, after: np.ndarray | None, stats: TrainStats | None = None
    ) -> list[Action]:
        """Apply the local update (as a delta, so merges made during training are kept), then push."""
        self.training = False
        if after is None:  # training failed; the driver logged why
            return []
        if not np.isfinite(after).all():
            log.warning("local training diverged (NaN/Inf parameters): update discarded; lower model.lr")
            self.counters.diverged += 1
            return self._push(now)
        self._apply_update(before, after)
        steps = stats.steps if stats is not None else self.cfg.local_steps
        self.age += steps
        self.counters.train_steps += steps
        return self._push(now)

    def on_message(self, now: float, frames: Sequence[bytes]) -> list[Action]:
        """Handle raw frames from the network; hostile input is rejected and counted, never raised."""
        try:
            msg = self.wire.open(frames)
        except Rejected as r:
            self._rejected(r.reason, r.detail)
            return []
        self.counters.msgs_in += 1
        self.counters.bytes_in += msg.nbytes
        peer = self._peers.get(msg.sender)
        if peer is None:  # a roster member outside our neighbourhood: answer it, never push to it
            peer = self._peers[msg.sender] = _Peer()
        if msg.sender in self._neighbour_set and self.liveness.heard(msg.sender, now):
            log.info("neighbour %s is up: resyncing it with a keyframe", msg.sender)
            peer.out.reset()
        peer.out.acked(msg.fields.ack)
        if msg.kind is Kind.HEARTBEAT:
            return []
        if msg.kind is Kind.MODEL:  # a one-way model: the sender runs another algorithm
            self._rejected(WRONG_ALGORITHM, f"{msg.sender} sent a one-way MODEL message; all members must run one algorithm")
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
                self.params = gossip.merge(self.params, self.weight, x_peer, msg.fields.weight)
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
            self.params = gossip.merge(self.params, self.weight, x_peer, msg.fields.weight)
        else:
            # apply the exchange relative to the model we sent, so merges and training that
            # happened meanwhile are kept and the weighted sum of models is conserved exactly
            sent = pending[2]
            self._apply_update(sent, gossip.merge(sent, self.weight, x_peer, msg.fields.weight))
        self.counters.exchanges += 1
        return []

    def next_deadline(self) -> float:
        """Earliest time at which `on_timer` has something to do."""
        t = self._next_round if not self.training else float("inf")
        last = min([q.last_sent for q in self._neighbour_peers], default=t) + self.cfg.heartbeat_interval
        if last < t:
            t = last
        if self._pending:
            first = min([sent for _, sent, _ in self._pending.values()]) + self.cfg.exchange_timeout
            if first < t:
                t = first
        e = self.liveness.next_expiry()
        return e if e < t else t

    # --- introspection --------------------------------------------------------------------------

    def alive_neighbours(self, now: float) -> list[str]:
        return self.liveness.alive(now)

    def model(self) -> np.ndarray:
        """The node's current model estimate (its `params`)."""
        return self.params

    # --- internals ----------------------------------------------------------------------------------

    def _push(self, now: float) -> list[Action]:
        alive = self.liveness.alive(now)
        if not alive:
            self.counters.idle_rounds += 1
            return []
        peer = alive[self.rng.randrange(len(alive))]
        action = self._model_message(Kind.PUSH, peer, now)
        self.counters.pushes += 1
        return [action]

    def _model_message(self, kind: Kind, peer: str, now: float, re: int = 0, ack: int | None = None) -> Send:
        st = self._peers[peer]
        base, payload, rebuilt = st.out.encode(self.params)
        fields = Fields(
            ack=st.inc.newest if ack is None else ack,
            base=base,
            weight=self.weight,
            age=self.age,
            re=re,
        )
        seq, frames = self.wire.seal(kind, peer, fields, payload, now)
        st.out.sent(seq, rebuilt)
        if base == 0:
            self.counters.keyframes_out += 1
        if kind is Kind.PUSH:
            self._pending[seq] = (peer, now, rebuilt)
        return self._sent(peer, frames, now)

    def _apply_update(self, before: np.ndarray, after: np.ndarray) -> None:
        """Move the model by `after - before` (exactly `after` if nothing changed meanwhile)."""
        if self.params is before:
            self.params = np.ascontiguousarray(after, dtype=PARAM_DTYPE)
        else:
            self.params = self.params + (after - before).astype(PARAM_DTYPE, copy=False)

    def _heartbeat(self, peer: str, now: float, ack: int | None = None) -> Send:
        st = self._peers[peer]
        _, frames = self.wire.seal(Kind.HEARTBEAT, peer, Fields(ack=st.inc.newest if ack is None else ack), None, now)
        self.counters.heartbeats_out += 1
        return self._sent(peer, frames, now)

    def _sent(self, peer: str, frames: list[bytes], now: float) -> Send:
        self._peers[peer].last_sent = now
        self.counters.msgs_out += 1
        self.counters.bytes_out += len(frames[0]) + len(frames[1]) + len(frames[2])
        return Send(peer, frames)

    def _rejected(self, reason: Reason, detail: str) -> None:
        key = reason.value
        self.counters.reject(key)
        n = self.counters.rejections[key]
        # every rejection is counted; the log gets the 1st, 2nd, 4th, 8th... of each reason
        level = logging.WARNING if n & (n - 1) == 0 else logging.DEBUG
        log.log(level, "rejected a message (%s, %d so far): %s", key, n, detail)
