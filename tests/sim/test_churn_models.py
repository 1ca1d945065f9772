"""Tests of the churn models' statistics: markov, bernoulli and diurnal schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from p2pfed.sim.churn import ChurnConfig, Schedule, resolve, schedule

DAY = 86400.0
SMARTPHONE = ChurnConfig(preset="smartphone")


def ids(n: int, prefix: str = "n") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def states(sched: Schedule, times: np.ndarray) -> np.ndarray:
    """Boolean matrix [node, sample time] of who is online, built from the online intervals."""
    out = np.zeros((len(sched.nodes), len(times)), dtype=bool)
    for i, node in enumerate(sched.nodes):
        for start, end in sched.online_intervals(node):
            out[i, np.searchsorted(times, start, "left") : np.searchsorted(times, end, "left")] = True
    return out


def spells(sched: Schedule) -> tuple[list[float], list[float]]:
    """Lengths of the online sessions and offline spells that start and end inside the horizon."""
    online: list[float] = []
    offline: list[float] = []
    for node in sched.nodes:
        iv = sched.online_intervals(node)
        online += [e - s for s, e in iv if s > 0 and e < sched.horizon]
        offline += [s2 - e1 for (_, e1), (s2, _) in zip(iv, iv[1:])]
    return online, offline


# ---------------------------------------------------------------------------------------------
# markov
# ---------------------------------------------------------------------------------------------


def test_smartphone_online_fraction_matches_its_target() -> None:
    # 4000 nodes over one day. Time-averaged: a two-state Markov chain's per-node time average
    # has variance ~ 2 p (1-p) tau / H with tau = 1 / (1/1800 + 1/5400) = 1350 s, so the sd over
    # 4000 nodes is 0.0766 / sqrt(4000) = 0.0012 and +-3 points is ~25 sd. Instantaneous (the
    # stationary start, and later instants): binomial sd sqrt(0.1875 / 4000) = 0.0068, so +-3
    # points is 4.4 sd. A wrong derivation (e.g. mean_online / mean_offline = 0.33) fails both.
    sched = schedule(SMARTPHONE, ids(4000), DAY, seed=11)
    assert abs(sched.online_fraction() - 0.25) < 0.03
    for t in (0.0, 0.25 * DAY, 0.5 * DAY, 0.75 * DAY):
        assert abs(len(sched.online_at(t)) / 4000 - 0.25) < 0.03, t
    assert abs(len(sched.initial_online) / 4000 - 0.25) < 0.03


def test_markov_session_lengths_are_exponential_with_the_configured_means() -> None:
    # 300 nodes x 20 days: ~72,000 complete sessions of each kind; the sd of the mean of an
    # exponential sample is mean / sqrt(n) (~0.4 %), so 5 % is > 10 sd. CV ~ 1 tells exponential
    # spells from e.g. fixed-length ones.
    sched = schedule(SMARTPHONE, ids(300), 20 * DAY, seed=5)
    online, offline = spells(sched)
    assert len(online) > 50_000 and len(offline) > 50_000
    assert np.mean(online) == pytest.approx(1800.0, rel=0.05)
    assert np.mean(offline) == pytest.approx(5400.0, rel=0.05)
    assert np.std(online) / np.mean(online) == pytest.approx(1.0, abs=0.05)


def test_overriding_the_smartphone_availability_keeps_its_session_length() -> None:
    sched = schedule(ChurnConfig(preset="smartphone", availability=0.5), ids(200), 10 * DAY, seed=2)
    online, offline = spells(sched)
    assert np.mean(online) == pytest.approx(1800.0, rel=0.05)
    assert np.mean(offline) == pytest.approx(1800.0, rel=0.05)
    assert abs(sched.online_fraction() - 0.5) < 0.03


# ---------------------------------------------------------------------------------------------
# bernoulli
# ---------------------------------------------------------------------------------------------


def test_bernoulli_is_independent_per_slot_and_per_node() -> None:
    n, slots, p = 500, 400, 0.3
    cfg = ChurnConfig(model="bernoulli", availability=p, slot=60.0)
    sched = schedule(cfg, ids(n), slots * 60.0, seed=9)
    x = states(sched, (np.arange(slots) + 0.5) * 60.0)  # mid-slot samples
    # constant within a slot: the state just after the boundary equals the mid-slot one
    assert np.array_equal(states(sched, np.arange(slots) * 60.0 + 1e-6), x)
    assert abs(x.mean() - p) < 0.01  # 200,000 draws: sd 0.001
    # independence across nodes: the per-slot online count has the binomial variance n p (1-p)
    # (sd of the ratio ~ sqrt(2/400) = 0.07); nodes sharing randomness would inflate it n-fold
    ratio = x.sum(axis=0).var() / (n * p * (1 - p))
    assert 0.75 < ratio < 1.25
    # independence across slots: P(online next slot | online now) = p
    now, nxt = x[:, :-1], x[:, 1:]
    assert abs(nxt[now].mean() - p) < 0.02 and abs(nxt[~now].mean() - p) < 0.02
    # per-node availability varies only binomially (sd sqrt(0.21/400) = 0.023)
    assert x.mean(axis=1).std() < 0.035


def test_bernoulli_transitions_lie_on_slot_boundaries() -> None:
    sched = schedule(ChurnConfig(model="bernoulli", availability=0.5, slot=90.0), ids(20), 3600.0, 1)
    assert sched.events
    assert all(e.time % 90.0 == 0 for e in sched.events)


def test_bernoulli_extremes() -> None:
    always = schedule(ChurnConfig(model="bernoulli", availability=1.0), ids(10), 3600.0, 1)
    never = schedule(ChurnConfig(model="bernoulli", availability=0.0), ids(10), 3600.0, 1)
    assert always.events == () and len(always.initial_online) == 10
    assert never.events == () and never.initial_online == frozenset()


# ---------------------------------------------------------------------------------------------
# diurnal
# ---------------------------------------------------------------------------------------------


def diurnal_curve(cfg: ChurnConfig, t: float) -> float:
    """The documented online probability of a phase-0 node at time t."""
    r = resolve(cfg)
    p, rate, omega = r.availability, 1 / r.mean_online + 1 / r.mean_offline, 2 * math.pi / r.day
    swing = r.amplitude * min(p, 1 - p) / math.sqrt(1 + (omega / rate) ** 2)
    return p + swing * math.cos(omega * t)


def test_diurnal_single_time_zone_follows_the_daily_curve() -> None:
    # 3000 nodes, all peaking at t = 0 mod day. At each instant the online count is binomial
    # (sd <= 0.009), so +-0.04 is >= 4.4 sd; the curve swings from ~0.60 to ~0.00.
    cfg = ChurnConfig(model="diurnal", availability=0.3, mean_online=1800.0, phase_spread=0.0)
    sched = schedule(cfg, ids(3000), 2 * DAY, seed=4)
    for t in np.arange(16) * DAY / 8:
        assert abs(len(sched.online_at(t)) / 3000 - diurnal_curve(cfg, t)) < 0.04, t
    # no lag or shrinkage: the error's cos and sin components over 96 half-hourly samples stay
    # near noise (~0.002); following the curve without the q'/r term lags it by ~21 min (~0.03)
    t = np.arange(96) * DAY / 48
    err = np.array([len(sched.online_at(x)) / 3000 - diurnal_curve(cfg, x) for x in t])
    omega = 2 * math.pi / DAY
    assert abs(2 * np.mean(err * np.cos(omega * t))) < 0.01
    assert abs(2 * np.mean(err * np.sin(omega * t))) < 0.01
    peak, trough = len(sched.online_at(DAY)) / 3000, len(sched.online_at(1.5 * DAY)) / 3000
    assert peak > 0.5 and trough < 0.05
    assert abs(sched.online_fraction() - 0.3) < 0.02  # the curve's mean


def test_diurnal_amplitude_and_spread_flatten_the_population_curve() -> None:
    flat = ChurnConfig(model="diurnal", availability=0.3, mean_online=1800.0, amplitude=0.0, phase_spread=0.0)
    world = ChurnConfig(model="diurnal", availability=0.3, mean_online=1800.0)  # peaks round the clock
    for cfg in (flat, world):
        sched = schedule(cfg, ids(3000), DAY, seed=8)
        for t in (0.0, 0.5 * DAY):
            assert abs(len(sched.online_at(t)) / 3000 - 0.3) < 0.04
    # each node of the world-wide population still has its own daily cycle
    # (its curve swings 0.3 +- 0.3, so its 3-hour time-of-day bins differ by ~0.58 on average
    # over 60 days, bin noise ~0.03; a node without a daily cycle differs by noise only)
    def bin_spread(sched: Schedule) -> float:
        starts = [d * DAY + k * DAY / 8 for k in range(8) for d in range(60)]
        parts = np.array([sched.online_fraction(t, t + DAY / 8) for t in starts]).reshape(8, 60)
        bins = parts.mean(axis=1)
        return float(max(bins) - min(bins))

    assert bin_spread(schedule(world, ["solo"], 60 * DAY, seed=1)) > 0.4
    assert bin_spread(schedule(flat, ["solo"], 60 * DAY, seed=1)) < 0.15


def test_diurnal_sessions_last_as_long_as_configured_near_the_mean() -> None:
    cfg = ChurnConfig(model="diurnal", availability=0.5, mean_online=1800.0, amplitude=0.0)
    online, offline = spells(schedule(cfg, ids(200), 10 * DAY, seed=6))
    assert np.mean(online) == pytest.approx(1800.0, rel=0.05)
    assert np.mean(offline) == pytest.approx(1800.0, rel=0.05)
