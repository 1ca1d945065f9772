"""Push-sum (stochastic gradient push) with loss-tolerant running sums, as a sans-I/O node core.

References: D. Kempe, A. Dobra, J. Gehrke, "Gossip-based computation of aggregate information",
FOCS 2003 (push-sum); M. Assran, N. Loizou, N. Ballas, M. Rabbat, "Stochastic gradient push for
distributed deep learning", ICML 2019 (SGP); C. N. Hadjicostis, N. H. Vaidya, A. D.
Domínguez-García, "Robust distributed average consensus via exchange of running sums", IEEE TAC
61(6), 2016 (running sums make push-sum immune to message loss).

Each node holds a mass (s, w): s a float64 vector, w > 0, initially (weight * x, weight) with
weight the training-set size (or 1 with `merge = "mean"`); its model estimate is z = s / w.
Every `period` (+- jitter) it trains `local_steps` steps from z and applies the update to the
mass, s += w (z_new - z); then it keeps half of (s, w) and sends the other half to one random
live out-neighbour (`neighbours` may be directed).  Without training every z converges to
sum(s) / sum(w) = the weighted average of the initial models, on any strongly connected graph.

Loss tolerance (Hadjicostis et al.): a link i -> j does not carry the half itself but the running
sums (S_ij, W_ij) of all the mass i ever sent on it; j remembers the sums it has already applied,
(R_ij, V_ij), and adds the difference.  A lost message is made up by the next one, and a down
neighbour's mass waits in the sums until it is back.  The invariant, exact up to float64 rounding
at every instant (tested under loss and churn):

    sum_i (s_i, w_i) + sum_links (S_ij - R_ij, W_ij - V_ij) = sum_i (weight_i x_i, weight_i)

Rounding on the float32 wire: W_ij travels exactly (a float64 msgpack field, the MODEL `weight`).
S_ij is kept in float64 at both ends; the payload is float32(S_ij - ref), where ref is the sum
the receiver acknowledged (a keyframe sends float32(S_ij) itself), and both ends record the same
float64 value ref + float64(payload).  The rounding residual S_ij - that value (at most 2**-24 of
the difference sent) is therefore never lost: it stays in the link's running sum and goes out
with the next message.  No error accumulates; at any time the receiver lags the true sum by at
most one message's rounding.  `W_ij` may not exceed 1e12 (the codec's weight bound): with w in
training rows that is ~2e9 pushes of a 1000-row node on one link.

Limits: s, w and the link sums live in memory.  A node restarted from a model-only checkpoint
starts a new mass and its in-neighbours' running sums no longer match what it applied, which
breaks the invariant; a sender whose sums went backwards (it lost its state) is re-baselined
(`mass_reset`, nothing applied).  Persisting the mass and link sums is needed for restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from p2pfed.gossip import averaging
from p2pfed.wire.codec import Fields, Kind
from p2pfed.errors import Reason
from p2pfed.gossip.algorithms.base import MASS_RESET, STALE_MESSAGE, BaseCore, Peer
from p2pfed.gossip.core import Action
from p2pfed.types import PARAM_DTYPE, TrainStats
from p2pfed.wire.envelope import Message

log = logging.getLogger(__name__)

#: A node keeps its mass instead of pushing once w fell below this fraction of its initial
#: weight (possible only on a directed graph whose in-neighbours are all down), so w never
#: underflows and s / w stays exact.
MIN_MASS_FRACTION = 2.0**-600


@dataclass
class SumSender(averaging.OutgoingLink):
    """Sender side of a push-sum link: running sums sent, plus the float64 delta reference.

    `ref` / `pending` (from OutgoingLink) hold float64 running sums as the receiver rebuilt them;
    `reset()` drops only the reference (next payload is a keyframe), never the sums.
    """

    sent_s: np.ndarray | None = field(default=None, repr=False)  # S_ij, float64
    sent_w: float = 0.0  # W_ij

    def add(self, s: np.ndarray, w: float) -> None:
        self.sent_s = s.copy() if self.sent_s is None else self.sent_s + s
        self.sent_w += w

    def encode_sums(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(base, float32 payload, float64 running sum the receiver will rebuild)."""
        assert self.sent_s is not None
        if self.ref is None:
            payload = self.sent_s.astype(PARAM_DTYPE)
            return 0, payload, payload.astype(np.float64)
        payload = (self.sent_s - self.ref).astype(PARAM_DTYPE)
        return self.ref_seq, payload, self.ref + payload.astype(np.float64)


@dataclass
class SumReceiver:
    """Receiver side of a push-sum link: the running sums applied so far and the delta references."""

    got_s: np.ndarray | None = field(default=None, repr=False)  # R_ij, float64
    got_w: float = 0.0  # V_ij
    refs: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    newest: int = 0  # seq of the newest message applied (what we acknowledge)


class PushSumCore(BaseCore):
    """Push-sum node: (s, w) mass, half pushed to a random live out-neighbour each period."""

    algorithm = "push-sum"

    def _init_model(self, params: np.ndarray) -> None:
        x = np.asarray(params, dtype=np.float64)
        if not np.isfinite(x).all():
            raise ValueError("the initial model has NaN/Inf parameters")
        self.s = x * self.weight
        self.w = self.weight
        self._min_mass = self.weight * MIN_MASS_FRACTION

    # --- the model ---------------------------------------------------------------------------------

    def model(self) -> np.ndarray:
        """The estimate z = s / w as float32."""
        return (self.s / self.w).astype(PARAM_DTYPE)

    @property
    def params(self) -> np.ndarray:
        return self.model()

    def mass(self) -> tuple[np.ndarray, float]:
        """This node's (s, w) (copies)."""
        return self.s.copy(), self.w

    def sent_sums(self) -> dict[str, tuple[np.ndarray, float]]:
        """Running sums (S_ij, W_ij) sent to each out-neighbour j (copies)."""
        return {
            p: (peer.out.sent_s.copy(), peer.out.sent_w)
            for p, peer in self._peers.items()
            if peer.out.sent_s is not None
        }

    def applied_sums(self) -> dict[str, tuple[np.ndarray, float]]:
        """Running sums (R_ij, V_ij) applied from each in-neighbour i (copies)."""
        return {
            p: (peer.inc.got_s.copy(), peer.inc.got_w) for p, peer in self._peers.items() if peer.inc.got_s is not None
        }

    # --- driver entry points --------------------------------------------------------------------------

    def on_trained(
        self, now: float, before: np.ndarray, after: np.ndarray | None, stats: TrainStats | None = None
    ) -> list[Action]:
        """Move the estimate by the local update, s += w (after - before), then push."""
        self.training = False
        if after is not None:
            if after.shape != self.s.shape or not np.isfinite(after).all():
                log.warning("local training diverged (NaN/Inf parameters): update discarded; lower model.lr")
                self.counters.diverged += 1
            else:
                self.s = self.s + self.w * (after.astype(np.float64) - np.asarray(before, dtype=np.float64))
                steps = stats.steps if stats is not None else self.cfg.local_steps
                self.age += steps
                self.counters.train_steps += steps
        return self._after_training(now)

    # --- hooks ------------------------------------------------------------------------------------------

    def _new_peer(self) -> Peer:
        return Peer(out=SumSender(), inc=SumReceiver())

    def _heartbeat_peers(self) -> Sequence[str]:
        # out-neighbours and every in-neighbour heard from: acks and liveness must flow back
        # along a directed link
        return tuple(self._peers)

    def _train_from(self) -> np.ndarray:
        return self.model()

    def _after_training(self, now: float) -> list[Action]:
        if self.w < self._min_mass:
            self.counters.idle_rounds += 1
            return []
        peer_id = self._pick_alive(now)
        if peer_id is None:
            return []
        st = self._peer(peer_id)
        half_s, half_w = self.s * 0.5, self.w * 0.5
        self.s = self.s - half_s
        self.w = self.w - half_w
        st.out.add(half_s, half_w)
        base, payload, rebuilt = st.out.encode_sums()
        fields = Fields(ack=st.inc.newest, base=base, weight=st.out.sent_w, age=self.age)
        seq, send = self._seal(Kind.MODEL, peer_id, fields, payload, now)
        st.out.sent(seq, rebuilt)
        if base == 0:
            self.counters.keyframes_out += 1
        self.counters.pushes += 1
        return [send]

    def _on_model(self, now: float, msg: Message, peer: Peer) -> list[Action]:
        assert msg.payload is not None
        link: SumReceiver = peer.inc
        if msg.seq <= link.newest:  # reordered: a newer running sum was already applied
            self._rejected(STALE_MESSAGE, f"{msg.sender}'s seq {msg.seq} is older than {link.newest}")
            return [self._heartbeat(msg.sender, now)]
        if msg.fields.base == 0:
            ref = None
            total_s = msg.payload.astype(np.float64)
        else:
            ref = link.refs.get(msg.fields.base)
            if ref is None:
                self._rejected(Reason.MISSING_REFERENCE, f"{msg.sender} sent running sums against {msg.fields.base}")
                return [self._heartbeat(msg.sender, now, ack=0)]  # ack 0: send a keyframe next
            total_s = ref + msg.payload.astype(np.float64)
        total_w = msg.fields.weight
        got_s = np.zeros_like(self.s) if link.got_s is None else link.got_s
        if total_w < link.got_w:
            log.warning(
                "%s: %s's running sums went backwards (it lost its state): re-baselined", self.node_id, msg.sender
            )
            self._rejected(MASS_RESET, f"{msg.sender} sent W={total_w} after {link.got_w}")
        else:
            new_s = self.s + (total_s - got_s)
            if not np.isfinite(new_s).all():
                link.refs = {}
                self._rejected(Reason.NON_FINITE, f"mass from {msg.sender}")
                return [self._heartbeat(msg.sender, now, ack=0)]
            self.s = new_s
            self.w = self.w + (total_w - link.got_w)
            self.counters.exchanges += 1
        link.got_s, link.got_w = total_s, total_w
        link.refs = {msg.seq: total_s} if ref is None else {msg.fields.base: ref, msg.seq: total_s}
        link.newest = msg.seq
        return [self._heartbeat(msg.sender, now, ack=msg.seq)]
