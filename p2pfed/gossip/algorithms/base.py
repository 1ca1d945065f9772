"""Plumbing shared by the algorithm cores: liveness, heartbeats and acks, the receive path, rejections.

The push-pull core (`push_pull.NodeCore`) answers a PUSH with a REPLY; every other algorithm
here sends models one way in `Kind.MODEL` messages (no reply).  Models travel as deltas against
the reference the receiver acknowledged, else as keyframes (p2pfed.gossip.averaging links); because
nothing answers a one-way model, the receiver acknowledges each one at once with a HEARTBEAT
(ack = its seq, or 0 if it could not rebuild it), so the sender's reference advances after
every message and a lost reference costs one keyframe.
HEARTBEATs to quiet neighbours keep liveness fresh; a neighbour unheard for `peer_timeout` is
skipped until it is heard again, then resynced by keyframe.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from p2pfed.gossip import averaging
from p2pfed.gossip.liveness import Liveness
from p2pfed.wire.codec import Fields, Kind
from p2pfed.errors import Reason, Rejected
from p2pfed.gossip.counters import Counters
from p2pfed.gossip.core import WRONG_ALGORITHM, Action, CoreSpec, Envelope, Send, Train
from p2pfed.types import PARAM_DTYPE, TrainStats
from p2pfed.wire.envelope import Message

log = logging.getLogger(__name__)

#: Rejection reasons of the algorithm cores (members of `Reason`, counted like the rest).
STALE_ROUND = Reason.STALE_ROUND
FUTURE_ROUND = Reason.FUTURE_ROUND
NOT_NEIGHBOUR = Reason.NOT_NEIGHBOUR
STALE_MESSAGE = Reason.STALE_MESSAGE
MASS_RESET = Reason.MASS_RESET


@dataclass
class Peer:
    """What a core keeps per peer: its delta links and when we last sent it anything."""

    out: Any = field(default_factory=averaging.OutgoingLink)
    inc: Any = field(default_factory=averaging.IncomingLink)
    last_sent: float = float("-inf")


class BaseCore:
    """Liveness, heartbeats, acks and the authenticated receive path; subclasses add the algorithm."""

    #: Registry name of the algorithm (for messages and logs).
    algorithm: ClassVar[str] = ""

    def __init__(
        self,
        spec: CoreSpec,
        wire: Envelope,
        params: np.ndarray,
        *,
        rng: random.Random | None = None,
        counters: Counters | None = None,
        age: int = 0,
    ) -> None:
        """A core for `spec` that seals with `wire`, starting from the model `params` (every algorithm alike).

        `counters` and `age` continue a restarted node's; `rng` drives its random choices.
        """
        node_id, neighbours, cfg = spec.node_id, spec.neighbours, spec.cfg
        if node_id in neighbours:
            raise ValueError("a node cannot be its own neighbour")
        if len(set(neighbours)) != len(neighbours):
            raise ValueError(f"duplicate neighbours in {list(neighbours)}")
        self.spec = spec
        self.node_id = node_id
        self.neighbours = neighbours
        self._neighbour_set = frozenset(self.neighbours)
        self.wire = wire
        self.weight = float(spec.weight) if cfg.merge == "weighted" else 1.0
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError("a node's merge weight must be positive (does it hold any training data?)")
        self.cfg = cfg
        self.rng = rng or random.Random(0)
        self.counters = counters or Counters()
        self.age = age
        self.liveness = Liveness(self.neighbours, cfg.peer_timeout)
        self._peers: dict[str, Peer] = {p: self._new_peer() for p in self.neighbours}
        self.training = False
        self._next_period = float("inf")
        self._init_model(params)

    def _init_model(self, params: np.ndarray) -> None:
        """Take the starting model (a subclass keeps it as its state)."""
        raise NotImplementedError

    # --- driver entry points (shared part) --------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Greet every neighbour (liveness and acks start flowing at once) and schedule the first tick."""
        self._schedule_start(now)
        return [self._heartbeat(p, now) for p in self._heartbeat_peers()]

    def on_timer(self, now: float) -> list[Action]:
        for p in self.liveness.expire(now):
            log.info("neighbour %s silent for %.1fs: skipping it until it returns", p, self.cfg.peer_timeout)
        actions = self._tick(now)
        for p in self._heartbeat_peers():
            if now >= self._peers[p].last_sent + self.cfg.heartbeat_interval:
                actions.append(self._heartbeat(p, now))
        return actions

    def on_message(self, now: float, frames: Sequence[bytes]) -> list[Action]:
        """Handle raw frames from the network; hostile input is rejected and counted, never raised."""
        try:
            msg = self.wire.open(frames)
        except Rejected as r:
            self._rejected(r.reason, r.detail)
            return []
        self.counters.msgs_in += 1
        self.counters.bytes_in += msg.nbytes
        peer = self._peer(msg.sender, now)
        if msg.sender in self._neighbour_set and self.liveness.heard(msg.sender, now):
            log.info("neighbour %s is up: resyncing it with a keyframe", msg.sender)
            peer.out.reset()
        peer.out.acked(msg.fields.ack)
        if msg.kind is Kind.HEARTBEAT:
            return []
        return self._on_payload(now, msg, peer)

    def next_deadline(self) -> float:
        """Earliest time at which `on_timer` has something to do (drivers ask after every event)."""
        peers = self._peers
        quiet = min([peers[p].last_sent for p in self._heartbeat_peers()], default=float("inf"))
        return min(self._tick_deadline(), quiet + self.cfg.heartbeat_interval, self.liveness.next_expiry())

    def alive_neighbours(self, now: float) -> list[str]:
        return self.liveness.alive(now)

    # --- hooks --------------------------------------------------------------------------------------

    def _schedule_start(self, now: float) -> None:
        """Default: the asynchronous schedule of `_periodic_tick`, first tick at a random offset."""
        self._next_period = now + self.rng.uniform(0.1, 1.0) * self.cfg.period

    def _tick(self, now: float) -> list[Action]:
        return self._periodic_tick(now)

    def _tick_deadline(self) -> float:
        return self._next_period if not self.training else float("inf")

    def _on_payload(self, now: float, msg: Message, peer: Peer) -> list[Action]:
        """An authenticated message that carries a model (PUSH, REPLY or MODEL), acks already applied.

        Default: one-way MODEL messages go to `_on_model`; the push-pull kinds are rejected (the
        push-pull core overrides this).
        """
        if msg.kind is not Kind.MODEL:
            self._rejected(
                WRONG_ALGORITHM,
                f"{msg.sender} sent a {msg.kind.name} (push-pull gossip) but this node runs {self.algorithm!r}; "
                "all members of a federation must run the same algorithm",
            )
            return []
        assert msg.payload is not None
        return self._on_model(now, msg, peer)

    def _on_model(self, now: float, msg: Message, peer: Peer) -> list[Action]:
        raise NotImplementedError

    def _after_training(self, now: float) -> list[Action]:
        """What to do once a period's local training is over (or was skipped or failed)."""
        return []

    def _heartbeat_peers(self) -> Sequence[str]:
        return self.neighbours

    def _new_peer(self) -> Peer:
        return Peer()

    def _train_from(self) -> np.ndarray:
        raise NotImplementedError

    # --- the asynchronous period (gossip-age, push-sum, local) ---------------------------------------

    def _periodic_tick(self, now: float) -> list[Action]:
        """Every `period` (+- jitter): train `local_steps` steps, then `_after_training`."""
        if self.training or now < self._next_period:
            return []
        self.counters.rounds += 1
        self._next_period = now + self.cfg.period * (1 + self.rng.uniform(-self.cfg.jitter, self.cfg.jitter))
        if self.cfg.local_steps > 0:
            self.training = True
            return [Train(self._train_from(), self.cfg.local_steps)]
        return self._after_training(now)

    def _pick_alive(self, now: float) -> str | None:
        """A random live neighbour (one RNG draw), or None after counting an idle round."""
        alive = self.liveness.alive(now)
        if not alive:
            self.counters.idle_rounds += 1
            return None
        return alive[self.rng.randrange(len(alive))]

    # --- sending ---------------------------------------------------------------------------------------

    def _peer(self, peer_id: str, now: float = float("-inf")) -> Peer:
        peer = self._peers.get(peer_id)
        if peer is None:  # a roster member outside our neighbourhood (wire.open checked the roster)
            peer = self._peers[peer_id] = self._new_peer()
            peer.last_sent = now  # first heartbeat (if any) one interval from now, never in the past
        return peer

    def _seal(
        self, kind: Kind, peer_id: str, fields: Fields, payload: np.ndarray | None, now: float
    ) -> tuple[int, Send]:
        seq, frames = self.wire.seal(kind, peer_id, fields, payload, now)
        self._peer(peer_id).last_sent = now
        self.counters.msgs_out += 1
        self.counters.bytes_out += sum(map(len, frames))
        return seq, Send(peer_id, frames)

    def _heartbeat(self, peer_id: str, now: float, ack: int | None = None) -> Send:
        """A HEARTBEAT; `ack` defaults to the newest model we hold from that peer."""
        ack = self._peer(peer_id).inc.newest if ack is None else ack
        _, send = self._seal(Kind.HEARTBEAT, peer_id, Fields(ack=ack), None, now)
        self.counters.heartbeats_out += 1
        return send

    def _rejected(self, reason: Reason, detail: str) -> None:
        key = reason.value
        self.counters.reject(key)
        n = self.counters.rejections[key]
        # every rejection is counted; the log gets the 1st, 2nd, 4th, 8th... of each reason
        level = logging.WARNING if n & (n - 1) == 0 else logging.DEBUG
        log.log(level, "%s: rejected a message (%s, %d so far): %s", self.node_id, key, n, detail)


class ModelCore(BaseCore):
    """A core whose state is one float32 model `params` (never mutated in place), sent as deltas."""

    def _init_model(self, params: np.ndarray) -> None:
        self.params = np.ascontiguousarray(params, dtype=PARAM_DTYPE)

    def model(self) -> np.ndarray:
        """The node's current model (`params`)."""
        return self.params

    def on_trained(
        self, now: float, before: np.ndarray, after: np.ndarray | None, stats: TrainStats | None = None
    ) -> list[Action]:
        """Apply the local update as a delta (merges made during training are kept), then go on."""
        self.training = False
        if after is None:  # training failed; the driver logged why
            return self._after_training(now)
        if after.shape != self.params.shape or not np.isfinite(after).all():
            log.warning("local training diverged (NaN/Inf parameters): update discarded; lower model.lr")
            self.counters.diverged += 1
            return self._after_training(now)
        self._apply_update(before, after)
        steps = stats.steps if stats is not None else self.cfg.local_steps
        self.age += steps
        self.counters.train_steps += steps
        return self._after_training(now)

    def _train_from(self) -> np.ndarray:
        return self.params

    def _apply_update(self, before: np.ndarray, after: np.ndarray) -> None:
        """Move the model by `after - before` (exactly `after` if nothing changed meanwhile)."""
        if self.params is before:
            self.params = np.ascontiguousarray(after, dtype=PARAM_DTYPE)
        else:
            self.params = self.params + (after - before).astype(PARAM_DTYPE, copy=False)

    def _send_model(self, peer_id: str, now: float, weight: float, round_: int = 0) -> Send:
        """Our model to `peer_id` as a MODEL message (delta against its acknowledged reference)."""
        st = self._peer(peer_id)
        base, payload, rebuilt = st.out.encode(self.params)
        fields = Fields(ack=st.inc.newest, base=base, weight=weight, age=self.age, round=round_)
        seq, send = self._seal(Kind.MODEL, peer_id, fields, payload, now)
        st.out.sent(seq, rebuilt)
        if base == 0:
            self.counters.keyframes_out += 1
        self.counters.pushes += 1
        return send

    def _receive_model(self, now: float, msg: Message, peer: Peer) -> tuple[np.ndarray | None, Send]:
        """Rebuild the sender's model (None if we cannot) and the HEARTBEAT acknowledging it."""
        assert msg.payload is not None
        x = peer.inc.decode(msg.seq, msg.fields.base, msg.payload)
        if x is None:
            self._rejected(Reason.MISSING_REFERENCE, f"{msg.sender} sent a delta against {msg.fields.base}")
        elif not np.isfinite(x).all():
            peer.inc.reset()
            x = None
            self._rejected(Reason.NON_FINITE, f"model reconstructed from {msg.sender}")
        # ack 0 makes the sender drop its reference, so its next model is a keyframe
        return x, self._heartbeat(msg.sender, now, ack=msg.seq if x is not None else 0)
