"""The ``bernoulli`` churn model: independent availability per time slot.

Time is cut into slots ``[k*slot, (k+1)*slot)`` (the same grid for every node) and in each slot
each node is online with probability ``availability``, independently of other slots and other
nodes. Reads ``availability`` and ``slot``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.random import Generator

from p2pfed.sim.churn.tracks import changes


def track(
    rng: Generator, p: float, slot: float, horizon: float, join: float | None
) -> tuple[bool, np.ndarray]:
    """Initial state and transitions of independent per-slot availability (joining at `join`)."""
    n_slots = max(1, math.ceil(horizon / slot))
    online = rng.random(n_slots) < p
    starts = np.arange(n_slots, dtype=np.float64) * slot
    inside = starts < horizon  # all of them, unless horizon / slot rounded up
    online, starts = online[inside], starts[inside]
    if join is None:
        return bool(online[0]), changes(bool(online[0]), starts[1:], online[1:])
    k = int(join // slot) + 1
    return False, np.concatenate(([join], changes(True, starts[k:], online[k:])))
