"""Drawing a churn schedule: `schedule()` plays each node's model on its own streams and merges them.

In the simulator churn is data (design.md section 6): `schedule()` draws, from a model in a
`ChurnConfig` (the ``[churn]`` table of a simulation spec), who is online at t = 0 and every
later transition, and the engine replays the resulting `Schedule` in order. Time is in virtual
seconds; a schedule covers ``[0, horizon)``. Events are sorted by (time, node id); every event
is a real transition (no up -> up), and all lie in ``(0, horizon)`` (a transition at the horizon
itself would change nothing in the simulation).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from p2pfed.errors import ConfigError
from p2pfed.sim.churn import bernoulli, diurnal, markov, trace
from p2pfed.sim.churn.checks import check_nodes, finite, listed
from p2pfed.sim.churn.config import ChurnConfig, resolve
from p2pfed.sim.churn.timeline import Schedule, Timeline
from p2pfed.sim.churn.tracks import stream, strictly_increasing

# The package's logger, as when churn was one module.
log = logging.getLogger(__package__)


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
    names = check_nodes(nodes, ConfigError)
    if not (finite(horizon) and horizon > 0):
        raise ConfigError(f"the churn horizon must be a positive number of seconds, got {horizon!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**64:
        raise ConfigError(f"the churn seed must be an integer in [0, 2**64), got {seed!r}")
    cfg = resolve(cfg)
    known = set(names)
    stray = [n for n in cfg.always_online if n not in known]
    if stray:
        raise ConfigError(
            f"churn.always_online names nodes that are not simulated: {listed(stray)}; "
            f"nodes are {listed(names)}"
        )
    intervals: dict[str, tuple[tuple[float, float], ...]] = {}
    if cfg.model == "trace":
        intervals = trace.read_trace(trace.resolve_path(cfg.trace, base_dir), names)
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
    up, crash = up[order], crash[order] & ~up[order]
    result = Schedule._from_timeline(Timeline(names, horizon, inits, times[order], idx[order], up, crash))
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
    state_rng = stream(seed, node, 0)
    aux = stream(seed, node, 1)
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
        times = markov.track(state_rng, join, start_up, cfg.mean_online, cfg.mean_offline, horizon)
        if late:
            times = np.concatenate(([join], times))
    elif cfg.model == "bernoulli":
        init, times = bernoulli.track(state_rng, cfg.availability, cfg.slot, horizon, join if late else None)
    elif cfg.model == "diurnal":
        init, times = diurnal.track(cfg, state_rng, u_init, u_phase, horizon, join if late else None)
    else:  # trace
        init, times = trace.track(intervals, horizon)
    times = strictly_increasing(times, horizon)
    is_down = (np.arange(len(times)) % 2 == 0) == init
    crash = np.zeros(len(times), dtype=bool)
    crash[is_down] = aux.random(int(is_down.sum())) < cfg.crash_fraction
    return init, times, crash
