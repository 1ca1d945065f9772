"""Gossip averaging math and the delta/reference bookkeeping of one directed link (pure, no I/O).

Push-pull averaging: two nodes exchange their models and both take the weighted average
`(w_a x_a + w_b x_b) / (w_a + w_b)`.  With equal weights that preserves the sum of all models;
with data-size weights it preserves the weighted sum, so repeated exchanges on a connected graph
drive every model to the (weighted) mean - the FedAvg target - with no server and no barrier.

Deltas (design.md section 4): a sender transmits `x - ref`, where `ref` is the model the
receiver has acknowledged holding; with no acknowledged reference it sends a keyframe (`x`).
The sender stores as the new reference exactly what the receiver reconstructs (`ref + delta` in
float32), so rounding never accumulates along a chain of deltas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from p2pfed.types import PARAM_DTYPE


def merge(x_self: np.ndarray, w_self: float, x_peer: np.ndarray, w_peer: float) -> np.ndarray:
    """Weighted average of two models (a new float32 array)."""
    if w_self <= 0 or w_peer <= 0:
        raise ValueError("merge weights must be positive")
    a = w_self / (w_self + w_peer)
    out = np.multiply(x_self, a, dtype=PARAM_DTYPE)
    out += np.multiply(x_peer, 1.0 - a, dtype=PARAM_DTYPE)
    return out


def pairwise_average(xs: np.ndarray, ws: np.ndarray, i: int, j: int) -> None:
    """One push-pull exchange between rows i and j of `xs` (float64 models), in place."""
    m = (ws[i] * xs[i] + ws[j] * xs[j]) / (ws[i] + ws[j])
    xs[i] = m
    xs[j] = m


@dataclass
class OutgoingLink:
    """Sender side of a directed link: the acknowledged reference and the last unacked model."""

    ref_seq: int = 0  # 0: no acknowledged reference, next payload is a keyframe
    ref: np.ndarray | None = field(default=None, repr=False)
    pending_seq: int = 0
    pending: np.ndarray | None = field(default=None, repr=False)

    def encode(self, x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """(base, payload, reconstruction): what to send and what the receiver will rebuild."""
        if self.ref is None:
            payload = np.array(x, dtype=PARAM_DTYPE, copy=True)
            return 0, payload, payload
        payload = np.subtract(x, self.ref, dtype=PARAM_DTYPE)
        return self.ref_seq, payload, np.add(self.ref, payload, dtype=PARAM_DTYPE)

    def sent(self, seq: int, reconstruction: np.ndarray) -> None:
        """Remember the model just sent with `seq` until the receiver acknowledges it."""
        self.pending_seq, self.pending = seq, reconstruction

    def acked(self, ack: int) -> None:
        """Process the receiver's ack: the seq of the newest model it holds from us (0: none)."""
        if ack == 0:
            self.ref_seq, self.ref = 0, None
        elif ack == self.pending_seq and self.pending is not None:
            self.ref_seq, self.ref = self.pending_seq, self.pending
            self.pending_seq, self.pending = 0, None

    def reset(self) -> None:
        """Forget everything (peer restarted or was down): the next payload is a keyframe."""
        self.ref_seq, self.ref, self.pending_seq, self.pending = 0, None, 0, None


@dataclass
class IncomingLink:
    """Receiver side of a directed link: the sender's models we can take deltas against.

    Keeps the reference the last delta was based on and the model it produced, so a lost
    acknowledgement (sender still on the old reference) never forces a keyframe.
    """

    refs: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    newest: int = 0

    def decode(self, seq: int, base: int, payload: np.ndarray) -> np.ndarray | None:
        """The sender's model, or None if `base` is a reference we do not hold."""
        if base == 0:
            x = np.array(payload, dtype=PARAM_DTYPE, copy=True)
            self.refs = {seq: x}
        else:
            ref = self.refs.get(base)
            if ref is None:
                return None
            with np.errstate(over="ignore", invalid="ignore"):  # the caller checks finiteness
                x = np.add(ref, payload, dtype=PARAM_DTYPE)
            self.refs = {base: ref, seq: x}
        self.newest = seq
        return x

    def reset(self) -> None:
        self.refs, self.newest = {}, 0
