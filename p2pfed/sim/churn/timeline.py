"""Who is online when: the `Event` transitions and the `Schedule` that holds and queries them."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import compress

import numpy as np

from p2pfed.sim.churn.checks import check_nodes, finite


@dataclass(frozen=True, slots=True)
class Event:
    """One transition: `node` comes online (`up`) or goes offline at virtual time `time`."""

    time: float
    node: str
    up: bool  # True = comes online, False = goes offline
    crash: bool = False  # for up=False: a crash (volatile state lost) rather than a graceful leave


@dataclass(frozen=True, eq=False)
class Timeline:
    """A schedule's content as arrays: already valid, events sorted by (time, node id)."""

    nodes: tuple[str, ...]
    horizon: float
    init: np.ndarray  # [node] online at t = 0
    times: np.ndarray  # [event] time, seconds
    idx: np.ndarray  # [event] index of the node in `nodes`
    up: np.ndarray  # [event] comes online (else goes offline)
    crash: np.ndarray  # [event] a departure that is a crash


class Schedule:
    """Who is online when: the online set at t = 0 and every later transition, in order.

    Build one with `schedule()`, or by hand from events (checked: every node known, times in
    ``(0, horizon]``, sorted by (time, node), each a real transition, crash only on departures).
    The state at time t reflects every event with ``time <= t``; after the horizon it stays as
    it was.
    """

    def __init__(
        self,
        nodes: Sequence[str],
        horizon: float,
        initial_online: Iterable[str] = (),
        events: Iterable[Event] = (),
    ) -> None:
        names = check_nodes(nodes, ValueError)
        if not (finite(horizon) and horizon > 0):
            raise ValueError(f"horizon must be a positive number of seconds, got {horizon!r}")
        index = {n: i for i, n in enumerate(names)}
        init = np.zeros(len(names), dtype=bool)
        for n in initial_online:
            if n not in index:
                raise ValueError(f"initial_online names {n!r}, which is not one of the nodes")
            init[index[n]] = True
        evs = tuple(events)
        state = init.copy()
        last: tuple[float, str] | None = None
        for e in evs:
            if e.node not in index:
                raise ValueError(f"event {e} names a node that is not one of the nodes")
            if not (0 < e.time <= horizon):
                raise ValueError(f"event {e} lies outside (0, horizon={horizon}]")
            if last is not None and (e.time, e.node) <= last:
                raise ValueError(f"event {e} is not after the previous one in (time, node) order")
            if e.up == bool(state[index[e.node]]):
                raise ValueError(f"event {e} is no transition: {e.node!r} is already {_updown(e.up)}")
            if e.up and e.crash:
                raise ValueError(f"event {e}: only a departure (up=False) can be a crash")
            state[index[e.node]] = e.up
            last = (e.time, e.node)
        self._t = Timeline(
            names,
            float(horizon),
            init,
            times=np.array([e.time for e in evs], dtype=np.float64),
            idx=np.array([index[e.node] for e in evs], dtype=np.int64),
            up=np.array([e.up for e in evs], dtype=bool),
            crash=np.array([e.crash for e in evs], dtype=bool),
        )
        self.__dict__["events"] = evs

    @classmethod
    def _from_timeline(cls, timeline: Timeline) -> Schedule:
        """A schedule of already valid, already sorted event arrays (no checks)."""
        self = cls.__new__(cls)
        self._t = timeline
        return self

    @property
    def nodes(self) -> tuple[str, ...]:
        """The simulated nodes, in the order given."""
        return self._t.nodes

    @property
    def horizon(self) -> float:
        """End of the simulated time span ``[0, horizon)``, seconds."""
        return self._t.horizon

    @cached_property
    def initial_online(self) -> frozenset[str]:
        """The nodes online at t = 0."""
        return frozenset(compress(self._t.nodes, self._t.init.tolist()))

    @cached_property
    def events(self) -> tuple[Event, ...]:
        """Every transition, sorted by (time, node id)."""
        tl = self._t
        names = np.array(tl.nodes, dtype=object)[tl.idx].tolist()
        # Millions of small objects would set off the cyclic garbage collector again and again
        # (4x slower); none of them can be part of a cycle, so pause it while they are made.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return tuple(map(Event, tl.times.tolist(), names, tl.up.tolist(), tl.crash.tolist()))
        finally:
            if was_enabled:
                gc.enable()

    def online_at(self, t: float) -> frozenset[str]:
        """The nodes online at time `t` (after every event with ``time <= t``)."""
        return frozenset(compress(self._t.nodes, self._state_at(t).tolist()))

    def online_fraction(self, t0: float = 0.0, t1: float | None = None) -> float:
        """Share of node-time online in ``[t0, t1]`` (default: the whole horizon), over all nodes.

        With ``t0 == t1`` it is the share of nodes online at that instant.
        """
        tl = self._t
        end = tl.horizon if t1 is None else float(t1)
        if end < t0:
            raise ValueError(f"online_fraction needs t0 <= t1, got t0={t0}, t1={end}")
        n = len(tl.nodes)
        if end == t0:
            return float(self._state_at(t0).sum()) / n
        # Each node's online time is its state at t0 times (t1 - t0), corrected by every
        # transition in (t0, t1): an up at s adds (t1 - s), a down at s removes it. Clipping s to
        # [t0, t1] makes earlier events set the state at t0 and later ones count for nothing.
        remaining = end - np.clip(tl.times, t0, end)
        sign = np.where(tl.up, 1.0, -1.0)
        online = float(tl.init.sum()) * (end - t0) + float(np.dot(sign, remaining))
        return online / (n * (end - t0))

    def online_intervals(self, node: str) -> tuple[tuple[float, float], ...]:
        """`node`'s online intervals ``[start, end)``; one still open at the horizon ends there."""
        tl = self._t
        try:
            i = tl.nodes.index(node)
        except ValueError:
            raise ValueError(f"{node!r} is not one of the schedule's nodes") from None
        times = tl.times[tl.idx == i].tolist()
        bounds = ([0.0] if tl.init[i] else []) + times
        if len(bounds) % 2:
            bounds.append(max(tl.horizon, bounds[-1]))
        return tuple(zip(bounds[0::2], bounds[1::2]))

    def _state_at(self, t: float) -> np.ndarray:
        k = int(np.searchsorted(self._t.times, t, side="right"))
        flips = np.bincount(self._t.idx[:k], minlength=len(self._t.nodes)) % 2 == 1
        return self._t.init ^ flips

    def __repr__(self) -> str:
        tl = self._t
        return (
            f"Schedule({len(tl.nodes)} nodes, horizon={tl.horizon:g} s, "
            f"{len(tl.times)} events, {len(self.initial_online)} online at t=0)"
        )


def _updown(up: bool) -> str:
    return "online" if up else "offline"
