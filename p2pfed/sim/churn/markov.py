"""The ``markov`` churn model: two-state on/off sessions with exponential lengths.

Online and offline spells are exponential with means ``mean_online`` and ``mean_offline``, so the
long-run online fraction is ``availability = mean_online / (mean_online + mean_offline)``. Give
any two of the three; the third is derived (``resolve()``). The state at t = 0 is drawn from the
stationary distribution, and because exponential spells are memoryless the process is stationary
from the first second: P(online at t) = availability for every t.
"""

from __future__ import annotations

import numpy as np
from numpy.random import Generator

from p2pfed.sim.churn.tracks import CHUNK


def track(
    rng: Generator, t0: float, up: bool, mean_online: float, mean_offline: float, horizon: float
) -> np.ndarray:
    """Transition times after `t0` of on/off spells with exponential lengths, starting `up`."""
    first, second = (mean_online, mean_offline) if up else (mean_offline, mean_online)
    parts: list[np.ndarray] = []
    t = t0
    while True:
        spells = rng.standard_exponential(CHUNK)
        spells[0::2] *= first
        spells[1::2] *= second
        ends = t + np.cumsum(spells)
        if ends[-1] >= horizon:
            parts.append(ends[ends < horizon])
            return np.concatenate(parts)
        parts.append(ends)
        t = float(ends[-1])
