"""Epidemic Learning (EL-Local) as a sans-I/O node core: each round, send to s random members.

Reference: M. de Vos, S. Farhadkhani, R. Guerraoui, A.-M. Kermarrec, R. Pires, R. Sharma,
"Epidemic Learning: Boosting Decentralized Learning with Randomized Communication", NeurIPS 2023.

Synchronous rounds aligned to the clock (p2pfed.gossip.algorithms.rounds).  Each round a node
trains `local_steps` steps, then sends its model to `s` distinct members drawn uniformly at
random from the whole roster (`members`, not only its topology neighbours; `s` is capped at the
number of other members); the random, changing communication graph is what makes EL mix fast.
At the round deadline it replaces its model by the uniform average of its own model and every
round-r model it received (any number, from any member).  Members are drawn without regard to
liveness (a node cannot watch the whole roster); a model sent to a member that is down is lost.
Heartbeats still flow to topology neighbours only, for liveness metrics and acks.
"""

from __future__ import annotations


import numpy as np

from p2pfed.gossip.algorithms.rounds import RoundCore
from p2pfed.gossip.core import Action
from p2pfed.types import PARAM_DTYPE


class EpidemicCore(RoundCore):
    """EL-Local node: s random roster members per round, uniform average at the deadline."""

    algorithm = "epidemic"

    def _init_model(self, params: np.ndarray) -> None:
        super()._init_model(params)
        self.members = tuple(dict.fromkeys(m for m in self.spec.members if m != self.node_id))
        self.s = min(self.options.epidemic_s, len(self.members))

    def _send_round(self, now: float) -> list[Action]:
        if not self.members:
            self.counters.idle_rounds += 1
            return []
        targets = self.rng.sample(self.members, self.s)
        return [self._send_model(p, now, weight=1.0, round_=self.round) for p in targets]

    def _aggregate(self, received: dict[str, tuple[np.ndarray, float]], now: float) -> np.ndarray:
        acc = self.params.astype(np.float64)
        for x, _ in received.values():
            acc += x
        return (acc / (1 + len(received))).astype(PARAM_DTYPE)
