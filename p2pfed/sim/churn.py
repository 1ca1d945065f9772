"""Churn models of the virtual-time simulator: seeded schedules of nodes going online and offline.

In the simulator churn is data (design.md section 6): `schedule()` draws, from a model in a
`ChurnConfig` (the ``[churn]`` table of a simulation spec), who is online at t = 0 and every
later transition, and the engine replays the resulting `Schedule` in order. Time is in virtual
seconds; a schedule covers ``[0, horizon)``.

Models (``churn.model``)

``none``
    Everyone is online the whole time; there are no events (late joiners aside).
``bernoulli``
    Independent availability: time is cut into slots ``[k*slot, (k+1)*slot)`` (the same grid
    for every node) and in each slot each node is online with probability ``availability``,
    independently of other slots and other nodes. Reads ``availability`` and ``slot``.
``markov``
    Two-state on/off sessions: online and offline spells are exponential with means
    ``mean_online`` and ``mean_offline``, so the long-run online fraction is
    ``availability = mean_online / (mean_online + mean_offline)``. Give any two of the three;
    the third is derived (``resolve()``). The state at t = 0 is drawn from the stationary
    distribution, and because exponential spells are memoryless the process is stationary from
    the first second: P(online at t) = availability for every t.
``diurnal``
    Sessions that follow a daily cycle of length ``day``. Node i's probability of being online
    at time t is the smooth curve ``q_i(t) = availability + s * cos(2*pi*(t - phi_i) / day)``,
    whose mean over a cycle is ``availability``; ``s`` is ``amplitude`` times the largest swing
    the process can follow exactly (``min(a, 1 - a) / sqrt(1 + (w/r)**2)`` with
    ``w = 2*pi/day`` and ``r = 1/mean_online + 1/mean_offline``), so at ``amplitude = 1`` the
    curve nearly touches 0 (or 1). Node i's peak is at ``phi_i`` (mod ``day``), drawn uniformly
    from ``[-phase_spread/2, phase_spread/2] * day``: ``phase_spread = 1`` (default) spreads the
    peaks round the clock like a world-wide population, ``0`` puts every node in one time zone
    with its peak at t = 0, day, 2*day, ... The process: at the points of a Poisson process of
    rate r each node redraws its state, online with probability ``q_i(t) + q_i'(t)/r``; this is
    the time-varying two-state Markov chain whose marginal is exactly ``q_i(t)`` at every t
    (started from ``q_i(0)``), with sessions as long as the ``markov`` model's with the same
    means where ``q_i`` is near its mean. Reads ``availability``, ``mean_online``,
    ``mean_offline`` (two of the three, as for ``markov``), ``day``, ``amplitude`` and
    ``phase_spread``.
``trace``
    Replays a CSV file (``trace``) with header ``node,start,end``: one row per online interval
    ``[start, end)`` in seconds, any number of rows per node, in any order. Rows of a node must
    not overlap (touching rows are merged); every node named must be a simulated node. Nodes
    absent from the trace are offline the whole time. Intervals are clipped to the horizon. A
    relative path is relative to the spec file's folder (``base_dir``). ``format_trace()``
    writes any schedule in this format, so a drawn schedule can be saved and replayed.

For every model:

- ``crash_fraction``: each departure (``up=False`` event) is a crash with this probability
  (volatile state lost; the node restarts from its last checkpoint), else a graceful leave
  (state saved first). Drawn per departure, independently of the session times, so changing
  it never moves a transition.
- ``late_join_fraction`` / ``late_join_window``: each node is, independently with probability
  ``late_join_fraction``, a late joiner: offline from 0 until a join time uniform in
  ``[0, late_join_window]``, when it comes online (an ``up`` event) and then follows the model
  from that moment (a Markov session starts, a Bernoulli node stays up until the next slot
  boundary, a diurnal node waits for its next redraw). Not allowed with ``trace``, which
  already says when each node first appears.
- ``always_online``: these node ids are online the whole time whatever the model (e.g. a
  stable seed node). Every id must be a simulated node.

Presets (``churn.preset``) for the session models. The figures are round, documented choices,
not fits to a particular trace:

``smartphone``
    markov, availability 0.25, mean_online 1800 s (30 min), hence mean_offline 5400 s (90 min):
    about a quarter of the phones are online at any moment and an online session lasts tens of
    minutes, 12 sessions a day on average. This is the usual picture of phones in cross-device
    federated learning, which may only train while idle, charging and on an unmetered network:
    Bonawitz et al., "Towards Federated Learning at Scale: System Design" (SysML 2019), and the
    136k-phone trace of Yang et al., "Characterizing Impacts of Heterogeneity in Federated
    Learning upon Large-Scale Smartphone Data" (WWW 2021). Use ``model = "diurnal"`` with the
    preset to add the daily cycle those studies report.
``laptop``
    markov, availability 0.4, mean_online 7200 s (2 h), hence mean_offline 10800 s (3 h):
    lid-open work sessions of a few hours.
``iot``
    markov, availability 0.95, mean_online 68400 s (19 h), hence mean_offline 3600 s (1 h): a
    mains-powered board (Raspberry Pi, hub) with the odd outage or reboot.

Preset rule (``resolve()``): a preset supplies the model (when ``model`` is left at ``"none"``)
and the session figures you did not set. "Set" means changed from the field's default
(availability 1.0, means 0.0). The three linked quantities availability, mean_online and
mean_offline are completed to two known values, taking yours first, then the preset's
availability, then the preset's mean_online; the third is derived. So ``preset = "smartphone"``
with ``availability = 0.5`` keeps 30-minute sessions (mean_offline becomes 1800 s), and with
``mean_online = 600`` keeps a quarter online (mean_offline becomes 1800 s). ``model =
"diurnal"`` or ``"bernoulli"`` with a preset takes its figures (bernoulli reads only the
availability); a preset with ``"trace"`` is an error.

Determinism. A node's schedule depends only on (seed, node id) and the config: it has its own
random streams keyed by a 128-bit BLAKE2b hash of the seed and the id (not CRC32, whose
collisions among thousands of ids would give two nodes identical schedules), so adding,
removing or reordering other nodes changes nothing about it. Streams are refilled in fixed-size
chunks, so a longer horizon extends a schedule without changing its beginning. Events are sorted
by (time, node id); every event is a real transition (no up -> up), and all lie in
``(0, horizon)`` (a transition at the horizon itself would change nothing in the simulation).
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import hashlib
import io
import logging
import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import compress
from pathlib import Path

import numpy as np
from numpy.random import PCG64, Generator, SeedSequence

from p2pfed.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Churn models, see the module docstring.
MODELS = ("none", "bernoulli", "markov", "diurnal", "trace")

#: Header line a trace CSV must start with.
TRACE_HEADER = ("node", "start", "end")

#: Draws per refill of a node's random stream. Fixed (never derived from the horizon) so that a
#: longer horizon extends a schedule instead of changing it. Even, so on/off alternation carries
#: over from one chunk to the next.
_CHUNK = 64

#: Unknown node ids listed in a trace error before "... and N more".
_MAX_LISTED = 8


@dataclass(frozen=True)
class Preset:
    """Named session figures for the markov and diurnal models (mean_offline is derived)."""

    model: str
    availability: float
    mean_online: float  # seconds
    description: str


PRESETS: dict[str, Preset] = {
    "smartphone": Preset("markov", 0.25, 1800.0, "a quarter online, 30-min sessions, 90 min off"),
    "laptop": Preset("markov", 0.4, 7200.0, "40 % online, 2-h sessions, 3 h off"),
    "iot": Preset("markov", 0.95, 68400.0, "95 % online, 19 h up, 1-h outages"),
}


@dataclass(frozen=True)
class ChurnConfig:
    """The ``[churn]`` table of a simulation spec: which churn model, and its figures."""

    model: str = "none"  # none | bernoulli | markov | diurnal | trace
    preset: str = ""  # smartphone | laptop | iot: session figures (see the module docstring)
    availability: float = 1.0  # long-run P(online); bernoulli: P(online) per node per slot
    slot: float = 60.0  # bernoulli: slot length (s)
    mean_online: float = 0.0  # markov/diurnal: mean online session (s); 0 = derive it
    mean_offline: float = 0.0  # markov/diurnal: mean offline spell (s); 0 = derive it
    day: float = 86400.0  # diurnal: cycle length (s)
    amplitude: float = 1.0  # diurnal: daily swing, as a share of the largest feasible one
    phase_spread: float = 1.0  # diurnal: node peaks spread over this share of the day (0 = one zone)
    trace: str = ""  # trace: CSV path, header node,start,end (relative: to the spec file)
    crash_fraction: float = 1.0  # share of departures that are crashes (else graceful leaves)
    late_join_fraction: float = 0.0  # P(a node joins late, at a uniform time in the window)
    late_join_window: float = 0.0  # seconds
    always_online: tuple[str, ...] = ()  # node ids exempt from churn (e.g. a stable seed node)

    def __post_init__(self) -> None:
        _check(
            self.model in MODELS,
            f"churn.model {self.model!r} is unknown; choose one of {', '.join(MODELS)}",
        )
        _check(
            self.preset == "" or self.preset in PRESETS,
            f"churn.preset {self.preset!r} is unknown; choose one of {', '.join(PRESETS)} (or leave it out)",
        )
        _check_range("availability", self.availability, 0.0, 1.0)
        _check(_finite(self.slot) and self.slot > 0, f"churn.slot must be > 0 seconds, got {self.slot!r}")
        for name in ("mean_online", "mean_offline"):
            value = getattr(self, name)
            _check(
                _finite(value) and value >= 0,
                f"churn.{name} must be >= 0 seconds (0 = derive it), got {value!r}",
            )
        _check(_finite(self.day) and self.day > 0, f"churn.day must be > 0 seconds, got {self.day!r}")
        _check_range("amplitude", self.amplitude, 0.0, 1.0)
        _check_range("phase_spread", self.phase_spread, 0.0, 1.0)
        _check_range("crash_fraction", self.crash_fraction, 0.0, 1.0)
        _check_range("late_join_fraction", self.late_join_fraction, 0.0, 1.0)
        _check(
            _finite(self.late_join_window) and self.late_join_window >= 0,
            f"churn.late_join_window must be >= 0 seconds, got {self.late_join_window!r}",
        )
        _check(
            self.late_join_fraction == 0 or self.late_join_window > 0,
            "churn.late_join_fraction > 0 needs churn.late_join_window > 0 (joins are uniform in "
            "[0, late_join_window] seconds)",
        )
        _check(
            not (self.model == "trace" and self.late_join_fraction > 0),
            "churn.late_join_fraction cannot be used with model 'trace': the trace already says "
            "when each node first comes online",
        )
        _check(
            not (self.model == "trace" and self.preset),
            f"churn.preset {self.preset!r} does not apply to model 'trace', which replays its file as is",
        )
        _check(
            self.model != "trace" or self.trace != "",
            "churn.model 'trace' needs churn.trace, the path of a CSV file with header node,start,end",
        )
        _check(
            self.trace == "" or self.model == "trace",
            f"churn.trace is set but churn.model is {self.model!r}; set model = 'trace' to replay it",
        )
        _check(
            all(isinstance(n, str) and n for n in self.always_online),
            "churn.always_online must list non-empty node ids",
        )
        dup = sorted({n for n in self.always_online if self.always_online.count(n) > 1})
        _check(not dup, f"churn.always_online lists these ids more than once: {', '.join(dup)}")
        _resolved_fields(self)  # raises ConfigError if the session figures do not add up


@dataclass(frozen=True, slots=True)
class Event:
    """One transition: `node` comes online (`up`) or goes offline at virtual time `time`."""

    time: float
    node: str
    up: bool  # True = comes online, False = goes offline
    crash: bool = False  # for up=False: a crash (volatile state lost) rather than a graceful leave


def resolve(cfg: ChurnConfig) -> ChurnConfig:
    """`cfg` with its preset applied and the derived session figures filled in.

    The result has ``preset = ""`` and, for markov and diurnal, all three of availability,
    mean_online and mean_offline explicit and consistent. Fields you set win over the preset's
    (see "Preset rule" in the module docstring). Resolving twice changes nothing.
    """
    return dataclasses.replace(cfg, **_resolved_fields(cfg))


def _resolved_fields(cfg: ChurnConfig) -> dict[str, object]:
    model, p, a, b = cfg.model, cfg.availability, cfg.mean_online, cfg.mean_offline
    preset = PRESETS.get(cfg.preset)
    via = f" (with preset {cfg.preset!r})" if preset else ""
    if preset is not None and model == "none":
        model = preset.model
    if preset is not None and model == "bernoulli" and p == 1.0:
        p = preset.availability
    if model in ("markov", "diurnal"):
        p_set, a_set, b_set = p != 1.0, a > 0, b > 0
        if preset is not None:
            if p_set + a_set + b_set < 2 and not p_set:
                p, p_set = preset.availability, True
            if p_set + a_set + b_set < 2 and not a_set:
                a, a_set = preset.mean_online, True
        if a_set and b_set:
            derived = a / (a + b)
            if p_set and not math.isclose(p, derived, rel_tol=1e-6, abs_tol=1e-12):
                raise ConfigError(
                    f"churn.availability = {p:g} contradicts mean_online / (mean_online + mean_offline)"
                    f" = {a:g} / ({a:g} + {b:g}) = {derived:.6g}{via}; give only two of the three"
                )
            p = derived if not p_set else p
        elif a_set or b_set:
            given, other = ("mean_online", "mean_offline") if a_set else ("mean_offline", "mean_online")
            if not 0 < p < 1:
                raise ConfigError(
                    f"churn.model {model!r} with only churn.{given} needs churn.availability strictly "
                    f"between 0 and 1 to derive churn.{other}, got {p:g}{via}"
                )
            if a_set:
                b = a * (1 - p) / p
            else:
                a = b * p / (1 - p)
        else:
            raise ConfigError(
                f"churn.model {model!r} needs session lengths: set two of availability, mean_online "
                "and mean_offline (e.g. availability = 0.25 and mean_online = 1800), or a preset "
                f"({', '.join(PRESETS)})"
            )
    return {"preset": "", "model": model, "availability": p, "mean_online": a, "mean_offline": b}


# ---------------------------------------------------------------------------------------------
# Schedule
# ---------------------------------------------------------------------------------------------


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
        names = _check_nodes(nodes, ValueError)
        if not (_finite(horizon) and horizon > 0):
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
        self._set(
            names,
            float(horizon),
            init,
            np.array([e.time for e in evs], dtype=np.float64),
            np.array([index[e.node] for e in evs], dtype=np.int64),
            np.array([e.up for e in evs], dtype=bool),
            np.array([e.crash for e in evs], dtype=bool),
        )
        self.__dict__["events"] = evs

    @classmethod
    def _from_arrays(
        cls,
        nodes: tuple[str, ...],
        horizon: float,
        init: np.ndarray,
        times: np.ndarray,
        idx: np.ndarray,
        up: np.ndarray,
        crash: np.ndarray,
    ) -> Schedule:
        """A schedule from already valid, already sorted event arrays (no checks)."""
        self = cls.__new__(cls)
        self._set(nodes, horizon, init, times, idx, up, crash)
        return self

    def _set(
        self,
        nodes: tuple[str, ...],
        horizon: float,
        init: np.ndarray,
        times: np.ndarray,
        idx: np.ndarray,
        up: np.ndarray,
        crash: np.ndarray,
    ) -> None:
        self._nodes = nodes
        self._horizon = horizon
        self._init = init
        self._times = times
        self._idx = idx
        self._up = up
        self._crash = crash

    @property
    def nodes(self) -> tuple[str, ...]:
        """The simulated nodes, in the order given."""
        return self._nodes

    @property
    def horizon(self) -> float:
        """End of the simulated time span ``[0, horizon)``, seconds."""
        return self._horizon

    @cached_property
    def initial_online(self) -> frozenset[str]:
        """The nodes online at t = 0."""
        return frozenset(compress(self._nodes, self._init.tolist()))

    @cached_property
    def events(self) -> tuple[Event, ...]:
        """Every transition, sorted by (time, node id)."""
        names = np.array(self._nodes, dtype=object)[self._idx].tolist()
        # Millions of small objects would set off the cyclic garbage collector again and again
        # (4x slower); none of them can be part of a cycle, so pause it while they are made.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return tuple(map(Event, self._times.tolist(), names, self._up.tolist(), self._crash.tolist()))
        finally:
            if was_enabled:
                gc.enable()

    def online_at(self, t: float) -> frozenset[str]:
        """The nodes online at time `t` (after every event with ``time <= t``)."""
        return frozenset(compress(self._nodes, self._state_at(t).tolist()))

    def online_fraction(self, t0: float = 0.0, t1: float | None = None) -> float:
        """Share of node-time online in ``[t0, t1]`` (default: the whole horizon), over all nodes.

        With ``t0 == t1`` it is the share of nodes online at that instant.
        """
        end = self._horizon if t1 is None else float(t1)
        if end < t0:
            raise ValueError(f"online_fraction needs t0 <= t1, got t0={t0}, t1={end}")
        n = len(self._nodes)
        if end == t0:
            return float(self._state_at(t0).sum()) / n
        # Each node's online time is its state at t0 times (t1 - t0), corrected by every
        # transition in (t0, t1): an up at s adds (t1 - s), a down at s removes it. Clipping s to
        # [t0, t1] makes earlier events set the state at t0 and later ones count for nothing.
        remaining = end - np.clip(self._times, t0, end)
        sign = np.where(self._up, 1.0, -1.0)
        online = float(self._init.sum()) * (end - t0) + float(np.dot(sign, remaining))
        return online / (n * (end - t0))

    def online_intervals(self, node: str) -> tuple[tuple[float, float], ...]:
        """`node`'s online intervals ``[start, end)``; one still open at the horizon ends there."""
        try:
            i = self._nodes.index(node)
        except ValueError:
            raise ValueError(f"{node!r} is not one of the schedule's nodes") from None
        times = self._times[self._idx == i].tolist()
        bounds = ([0.0] if self._init[i] else []) + times
        if len(bounds) % 2:
            bounds.append(max(self._horizon, bounds[-1]))
        return tuple(zip(bounds[0::2], bounds[1::2]))

    def _state_at(self, t: float) -> np.ndarray:
        k = int(np.searchsorted(self._times, t, side="right"))
        flips = np.bincount(self._idx[:k], minlength=len(self._nodes)) % 2 == 1
        return self._init ^ flips

    def __repr__(self) -> str:
        return (
            f"Schedule({len(self._nodes)} nodes, horizon={self._horizon:g} s, "
            f"{len(self._times)} events, {len(self.initial_online)} online at t=0)"
        )


# ---------------------------------------------------------------------------------------------
# Drawing a schedule
# ---------------------------------------------------------------------------------------------


def schedule(
    cfg: ChurnConfig,
    nodes: Sequence[str],
    horizon: float,
    seed: int,
    base_dir: Path | None = None,
) -> Schedule:
    """Draw the churn schedule of `nodes` over ``[0, horizon)`` seconds from `cfg` and `seed`.

    `base_dir` is the folder a relative ``trace`` path is relative to (the spec file's folder;
    default: the working directory). Raises ConfigError for bad arguments and DataError for a
    malformed trace file.
    """
    started = time.perf_counter()
    names = _check_nodes(nodes, ConfigError)
    if not (_finite(horizon) and horizon > 0):
        raise ConfigError(f"the churn horizon must be a positive number of seconds, got {horizon!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**64:
        raise ConfigError(f"the churn seed must be an integer in [0, 2**64), got {seed!r}")
    cfg = resolve(cfg)
    known = set(names)
    stray = [n for n in cfg.always_online if n not in known]
    if stray:
        raise ConfigError(
            f"churn.always_online names nodes that are not simulated: {_listed(stray)}; "
            f"nodes are {_listed(names)}"
        )
    intervals: dict[str, tuple[tuple[float, float], ...]] = {}
    if cfg.model == "trace":
        intervals = read_trace(_resolve_path(cfg.trace, base_dir), names)
        absent = sum(1 for n in names if n not in intervals and n not in cfg.always_online)
        if absent:
            log.info(
                "churn trace %s: %d of %d nodes are absent and stay offline", cfg.trace, absent, len(names)
            )
    horizon = float(horizon)
    always = set(cfg.always_online)

    inits = np.zeros(len(names), dtype=bool)
    per_node_times: list[np.ndarray] = []
    per_node_crash: list[np.ndarray] = []
    for i, node in enumerate(names):
        if node in always:
            inits[i] = True
            per_node_times.append(np.empty(0))
            per_node_crash.append(np.empty(0, dtype=bool))
            continue
        init, times, crash = _node_track(cfg, node, horizon, int(seed), intervals.get(node, ()))
        inits[i] = init
        per_node_times.append(times)
        per_node_crash.append(crash)

    counts = np.array([len(t) for t in per_node_times], dtype=np.int64)
    idx = np.repeat(np.arange(len(names), dtype=np.int64), counts)
    times = np.concatenate(per_node_times) if per_node_times else np.empty(0)
    crash = np.concatenate(per_node_crash) if per_node_crash else np.empty(0, dtype=bool)
    # Transitions alternate per node, starting with the opposite of its state at t = 0.
    position = np.arange(len(idx)) - np.repeat(np.cumsum(counts) - counts, counts)
    up = (position % 2 == 0) != inits[idx]
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(len(names))
    order = np.lexsort((rank[idx], times))
    result = Schedule._from_arrays(
        names, horizon, inits, times[order], idx[order], up[order], crash[order] & ~up[order]
    )
    log.debug(
        "churn %s: %d nodes, %d events over %g s, drawn in %.3f s",
        cfg.model,
        len(names),
        len(times),
        horizon,
        time.perf_counter() - started,
    )
    return result


def _node_track(
    cfg: ChurnConfig,
    node: str,
    horizon: float,
    seed: int,
    intervals: tuple[tuple[float, float], ...],
) -> tuple[bool, np.ndarray, np.ndarray]:
    """One node's state at t = 0, its transition times, and (per transition) crash flags."""
    state_rng = _stream(seed, node, 0)
    aux = _stream(seed, node, 1)
    # Four fixed draws first, whatever the model, so no setting shifts another one's randomness:
    # late-join decision, join time, initial state, diurnal phase. Crash draws follow them.
    u_late, u_join, u_init, u_phase = aux.random(4).tolist()
    join = u_join * cfg.late_join_window if u_late < cfg.late_join_fraction else 0.0
    late = join > 0
    if late and join >= horizon:
        return False, np.empty(0), np.empty(0, dtype=bool)

    if cfg.model == "none":
        init, times = (False, np.array([join])) if late else (True, np.empty(0))
    elif cfg.model == "markov":
        init = False if late else u_init < cfg.availability
        start_up = True if late else init
        times = _markov(state_rng, join, start_up, cfg.mean_online, cfg.mean_offline, horizon)
        if late:
            times = np.concatenate(([join], times))
    elif cfg.model == "bernoulli":
        init, times = _bernoulli(state_rng, cfg.availability, cfg.slot, horizon, join if late else None)
    elif cfg.model == "diurnal":
        init, times = _diurnal(cfg, state_rng, u_init, u_phase, horizon, join if late else None)
    else:  # trace
        init, times = _trace_track(intervals, horizon)
    times = _strictly_increasing(times, horizon)
    is_down = (np.arange(len(times)) % 2 == 0) == init
    crash = np.zeros(len(times), dtype=bool)
    crash[is_down] = aux.random(int(is_down.sum())) < cfg.crash_fraction
    return init, times, crash


def _stream(seed: int, node: str, stream: int) -> Generator:
    """Random stream `stream` of `node`, keyed by a 128-bit hash of (seed, stream, node id)."""
    key = hashlib.blake2b(
        seed.to_bytes(8, "little") + bytes([stream]) + node.encode("utf-8"),
        digest_size=16,
        person=b"p2pfed.churn",
    ).digest()
    return Generator(PCG64(SeedSequence(int.from_bytes(key, "little"))))


def _markov(
    rng: Generator, t0: float, up: bool, mean_online: float, mean_offline: float, horizon: float
) -> np.ndarray:
    """Transition times after `t0` of on/off spells with exponential lengths, starting `up`."""
    first, second = (mean_online, mean_offline) if up else (mean_offline, mean_online)
    parts: list[np.ndarray] = []
    t = t0
    while True:
        spells = rng.standard_exponential(_CHUNK)
        spells[0::2] *= first
        spells[1::2] *= second
        ends = t + np.cumsum(spells)
        if ends[-1] >= horizon:
            parts.append(ends[ends < horizon])
            return np.concatenate(parts)
        parts.append(ends)
        t = float(ends[-1])


def _bernoulli(
    rng: Generator, p: float, slot: float, horizon: float, join: float | None
) -> tuple[bool, np.ndarray]:
    """Initial state and transitions of independent per-slot availability (joining at `join`)."""
    n_slots = max(1, math.ceil(horizon / slot))
    online = rng.random(n_slots) < p
    starts = np.arange(n_slots, dtype=np.float64) * slot
    inside = starts < horizon  # all of them, unless horizon / slot rounded up
    online, starts = online[inside], starts[inside]
    if join is None:
        return bool(online[0]), _changes(bool(online[0]), starts[1:], online[1:])
    k = int(join // slot) + 1
    return False, np.concatenate(([join], _changes(True, starts[k:], online[k:])))


def _diurnal(
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
        gaps = rng.standard_exponential(_CHUNK) / rate
        u = rng.random(_CHUNK)
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
        return init, _changes(init, at, online)
    return False, np.concatenate(([join], _changes(True, at, online)))


def _changes(state: bool, at: np.ndarray, online: np.ndarray) -> np.ndarray:
    """The times among `at` where the sequence of states `online` differs from the one before."""
    before = np.concatenate(([state], online[:-1]))
    return at[online != before]


def _trace_track(intervals: tuple[tuple[float, float], ...], horizon: float) -> tuple[bool, np.ndarray]:
    """Initial state and transitions of sorted, disjoint, non-touching online intervals."""
    init = False
    times: list[float] = []
    for start, end in intervals:
        if start >= horizon:
            break
        if start <= 0:
            init = True
        else:
            times.append(start)
        if end < horizon:
            times.append(end)
    return init, np.array(times, dtype=np.float64)


def _strictly_increasing(times: np.ndarray, horizon: float) -> np.ndarray:
    """Guard against float ties (a zero-length spell): nudge each tie just past its predecessor."""
    if times.size == 0 or (times[0] > 0 and bool(np.all(np.diff(times) > 0))):
        return times
    out = times.tolist()
    prev = 0.0
    for k, t in enumerate(out):
        if t <= prev:
            out[k] = t = math.nextafter(prev, math.inf)
        prev = t
    kept = [t for t in out if t < horizon]
    return np.array(kept, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Trace files
# ---------------------------------------------------------------------------------------------


def read_trace(path: str | Path, nodes: Sequence[str]) -> dict[str, tuple[tuple[float, float], ...]]:
    """Read a churn trace CSV into each node's sorted, merged online intervals ``[start, end)``.

    The file has the header ``node,start,end`` and one row per online interval in seconds.
    Raises ConfigError if the file cannot be read, DataError (with file and line) if its content
    is wrong: bad header, wrong field count, non-numeric, negative or non-finite times, end not
    after start, overlapping rows of one node, or node ids that are not in `nodes`.
    """
    full = Path(path).expanduser()
    try:
        text = full.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"churn trace {full} not found (churn.trace; relative to the spec file)") from None
    except IsADirectoryError:
        raise ConfigError(f"churn trace {full} is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"churn trace {full} is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"cannot read churn trace {full}: {e.strerror}") from None

    known = set(nodes)
    rows: dict[str, list[tuple[float, float, int]]] = {}
    unknown: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text))
    header_seen = False
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        fields = [f.strip() for f in fields]
        if not header_seen:
            if tuple(f.lower() for f in fields) != TRACE_HEADER:
                raise DataError(
                    f"{full}:{line}: the first line must be the header 'node,start,end', "
                    f"got {','.join(fields)!r}"
                )
            header_seen = True
            continue
        if len(fields) != 3:
            raise DataError(f"{full}:{line}: expected 3 fields node,start,end, got {len(fields)}: {fields!r}")
        node, raw_start, raw_end = fields
        if not node:
            raise DataError(f"{full}:{line}: the node id is empty")
        start = _trace_time(full, line, "start", raw_start)
        end = _trace_time(full, line, "end", raw_end)
        if end <= start:
            raise DataError(
                f"{full}:{line}: end {raw_end} must be after start {raw_start} (an interval [start, end))"
            )
        if node not in known:
            unknown.setdefault(node, line)
            continue
        rows.setdefault(node, []).append((start, end, line))
    if not header_seen:
        raise DataError(
            f"{full}: the file is empty; it needs the header 'node,start,end' and one row per interval"
        )
    if unknown:
        where = ", ".join(f"{n!r} (line {ln})" for n, ln in list(unknown.items())[:_MAX_LISTED])
        more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
        raise DataError(
            f"{full}: the trace names nodes that are not simulated: {where}{more}; "
            f"nodes are {_listed(nodes)}"
        )

    result: dict[str, tuple[tuple[float, float], ...]] = {}
    for node, spans in rows.items():
        spans.sort()
        merged: list[list[float]] = []
        prev_line = 0
        for start, end, line in spans:
            if merged and start < merged[-1][1]:
                raise DataError(
                    f"{full}:{line}: interval [{start:g}, {end:g}) of node {node!r} overlaps its interval "
                    f"ending at {merged[-1][1]:g} on line {prev_line}"
                )
            if merged and start == merged[-1][1]:
                merged[-1][1] = end
            else:
                merged.append([start, end])
            prev_line = line
        result[node] = tuple((s, e) for s, e in merged)
    return result


def format_trace(sched: Schedule) -> str:
    """`sched` as trace CSV text (header ``node,start,end``) that the ``trace`` model replays.

    Times are written exactly (``repr`` of the float), so replaying the text over the same
    horizon reproduces every transition; crash flags are not part of the format.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TRACE_HEADER)
    for node in sorted(sched.nodes):
        for start, end in sched.online_intervals(node):
            writer.writerow((node, repr(start), repr(end)))
    return buf.getvalue()


def _trace_time(path: Path, line: int, what: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"{path}:{line}: {what} {raw!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise DataError(f"{path}:{line}: {what} {raw!r} must be a finite number of seconds")
    if value < 0:
        raise DataError(f"{path}:{line}: {what} {raw} is negative; times are seconds from 0")
    return value


def _resolve_path(p: str, base_dir: Path | None) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else (base_dir if base_dir is not None else Path.cwd()) / q


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    _check(_finite(value) and lo <= value <= hi, f"churn.{name} must be in [{lo:g}, {hi:g}], got {value!r}")


def _check_nodes(nodes: Sequence[str], error: type[Exception]) -> tuple[str, ...]:
    if isinstance(nodes, str):
        raise error(f"nodes must be a sequence of node ids, not the single string {nodes!r}")
    names = tuple(nodes)
    if not names:
        raise error("a churn schedule needs at least one node; none were given")
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise error(f"node ids must be non-empty strings, got {bad[:_MAX_LISTED]!r}")
    dup = sorted(n for n, k in Counter(names).items() if k > 1)
    if dup:
        raise error(f"node ids listed more than once: {_listed(dup)}")
    return names


def _listed(xs: Sequence[str]) -> str:
    xs = list(xs)
    shown = ", ".join(xs[:_MAX_LISTED])
    return shown + (f" ... and {len(xs) - _MAX_LISTED} more" if len(xs) > _MAX_LISTED else "")


def _updown(up: bool) -> str:
    return "online" if up else "offline"
