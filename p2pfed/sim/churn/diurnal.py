"""The ``diurnal`` churn model: sessions that follow a daily cycle of length ``day``.

Node i's probability of being online at time t is the smooth curve
``q_i(t) = availability + s * cos(2*pi*(t - phi_i) / day)``, whose mean over a cycle is
``availability``; ``s`` is ``amplitude`` times the largest swing the process can follow exactly
(``min(a, 1 - a) / sqrt(1 + (w/r)**2)`` with ``w = 2*pi/day`` and
``r = 1/mean_online + 1/mean_offline``), so at ``amplitude = 1`` the curve nearly touches 0
(or 1). Node i's peak is at ``phi_i`` (mod ``day``), drawn uniformly from
``[-phase_spread/2, phase_spread/2] * day``: ``phase_spread = 1`` (default) spreads the peaks
round the clock like a world-wide population, ``0`` puts every node in one time zone with its
peak at t = 0, day, 2*day, ... The process: at the points of a Poisson process of rate r each
node redraws its state, online with probability ``q_i(t) + q_i'(t)/r``; this is the
time-varying two-state Markov chain whose marginal is exactly ``q_i(t)`` at every t (started
from ``q_i(0)``), with sessions as long as the ``markov`` model's with the same means where
``q_i`` is near its mean. Reads ``availability``, ``mean_online``, ``mean_offline`` (two of the
three, as for ``markov``), ``day``, ``amplitude`` and ``phase_spread``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.random import Generator

from p2pfed.sim.churn.config import ChurnConfig
from p2pfed.sim.churn.tracks import CHUNK, changes


def track(
    cfg: ChurnConfig,
    rng: Generator,
    u_init: float,
    u_phase: float,
    horizon: float,
    join: float | None,
) -> tuple[bool, np.ndarray]:
    """Initial state and transitions of the daily-cycle model (see the module docstring)."""
    p = cfg.availability
    rate = 1.0 / cfg.mean_online + 1.0 / cfg.mean_offline
    omega = 2.0 * math.pi / cfg.day
    rho = omega / rate
    swing = cfg.amplitude * min(p, 1.0 - p) / math.sqrt(1.0 + rho * rho)
    phase = (u_phase - 0.5) * cfg.phase_spread * cfg.day
    t0 = 0.0 if join is None else join
    points: list[np.ndarray] = []
    draws: list[np.ndarray] = []
    t = t0
    while True:
        gaps = rng.standard_exponential(CHUNK) / rate
        u = rng.random(CHUNK)
        at = t + np.cumsum(gaps)
        keep = at < horizon
        points.append(at[keep])
        draws.append(u[keep])
        if not keep[-1]:
            break
        t = float(at[-1])
    at = np.concatenate(points)
    theta = omega * (at - phase)
    redraw_p = p + swing * (np.cos(theta) - rho * np.sin(theta))  # q(t) + q'(t) / rate
    online = np.concatenate(draws) < redraw_p
    if join is None:
        init = u_init < p + swing * math.cos(omega * (0.0 - phase))
        return init, changes(init, at, online)
    return False, np.concatenate(([join], changes(True, at, online)))
