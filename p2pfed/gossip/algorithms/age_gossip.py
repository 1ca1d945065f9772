"""Gossip learning with age-weighted merging ("gossip-age"), as a sans-I/O node core.

References: R. Ormándi, I. Hegedűs, M. Jelasity, "Gossip learning with linear models on fully
distributed data", Concurrency and Computation: Practice and Experience 25(4), 2013; I. Hegedűs,
G. Danner, M. Jelasity, "Decentralized learning works: an empirical comparison of gossip
learning and federated learning", JPDC 148, 2021 (and "Gossip learning as a decentralized
alternative to federated learning", DAIS 2019).

Every `period` (+- jitter) a node trains `local_steps` steps, then pushes its model to one random
live neighbour; nothing is sent back.  The receiver merges by model age (the number of local
training steps a model has seen): `x = (a_i x_i + a_j x_j) / (a_i + a_j)`, and takes
`age = max(a_i, a_j)`; two untrained models (both ages 0) are averaged equally.  A fresh or
restarted node (age 0) is thus simply overwritten by an experienced model.  Unlike push-pull
averaging this does not conserve the sum of models; the merge favours the more-trained model,
which is the point of gossip *learning* (the training-set size `weight` is not used).
"""

from __future__ import annotations

import logging

import numpy as np

from p2pfed.gossip.algorithms.base import ModelCore, Peer
from p2pfed.gossip.core import Action
from p2pfed.types import PARAM_DTYPE
from p2pfed.wire.envelope import Message

log = logging.getLogger(__name__)


def age_merge(x_self: np.ndarray, age_self: int, x_peer: np.ndarray, age_peer: int) -> tuple[np.ndarray, int]:
    """Age-weighted average of two models and the merged age (a new float32 array, max age)."""
    if age_self < 0 or age_peer < 0:
        raise ValueError("model ages must be non-negative")
    total = age_self + age_peer
    a = 0.5 if total == 0 else age_self / total
    if a == 0.0:
        out = np.array(x_peer, dtype=PARAM_DTYPE, copy=True)
    elif a == 1.0:
        out = np.array(x_self, dtype=PARAM_DTYPE, copy=True)
    else:
        out = np.multiply(x_self, a, dtype=PARAM_DTYPE)
        out += np.multiply(x_peer, 1.0 - a, dtype=PARAM_DTYPE)
    return out, max(age_self, age_peer)


class AgeGossipCore(ModelCore):
    """Push-only gossip learning: train, push to a random live neighbour, merge received by age."""

    algorithm = "gossip-age"

    def _after_training(self, now: float) -> list[Action]:
        peer = self._pick_alive(now)
        if peer is None:
            return []
        return [self._send_model(peer, now, weight=self.weight)]

    def _on_model(self, now: float, msg: Message, peer: Peer) -> list[Action]:
        x, ack = self._receive_model(now, msg, peer)
        if x is not None:
            self.params, self.age = age_merge(self.params, self.age, x, msg.fields.age)
            self.counters.exchanges += 1
        return [ack]
