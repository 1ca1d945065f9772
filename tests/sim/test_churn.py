"""Tests of p2pfed.sim.churn: configs and presets, every churn model's statistics, traces, schedules."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfed.config import build
from p2pfed.errors import ConfigError, DataError
from p2pfed.sim.churn import (
    PRESETS,
    ChurnConfig,
    Event,
    Schedule,
    format_trace,
    read_trace,
    resolve,
    schedule,
)

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


def transitions(sched: Schedule) -> list[tuple[float, str, bool]]:
    return [(e.time, e.node, e.up) for e in sched.events]


def assert_well_formed(sched: Schedule) -> None:
    """Events sorted by (time, node), inside (0, horizon), real transitions, crashes only on downs."""
    keys = [(e.time, e.node) for e in sched.events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    state = {n: n in sched.initial_online for n in sched.nodes}
    for e in sched.events:
        assert 0 < e.time < sched.horizon
        assert state[e.node] != e.up, f"{e} is not a transition"
        assert not (e.up and e.crash)
        state[e.node] = e.up


# ---------------------------------------------------------------------------------------------
# Config, presets, resolve
# ---------------------------------------------------------------------------------------------


def test_default_config_is_no_churn() -> None:
    cfg = resolve(ChurnConfig())
    assert cfg.model == "none"
    sched = schedule(cfg, ids(5), 1000.0, seed=0)
    assert sched.initial_online == frozenset(ids(5)) and sched.events == ()
    assert sched.online_fraction() == 1.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"model": "flaky"}, "churn.model 'flaky' is unknown; choose one of none, bernoulli"),
        ({"preset": "tablet"}, "churn.preset 'tablet' is unknown; choose one of smartphone"),
        ({"availability": 1.5}, "churn.availability must be in [0, 1], got 1.5"),
        ({"availability": -0.1}, "churn.availability must be in [0, 1]"),
        ({"availability": math.nan}, "churn.availability must be in [0, 1], got nan"),
        ({"slot": 0.0}, "churn.slot must be > 0 seconds"),
        ({"mean_online": -5.0}, "churn.mean_online must be >= 0 seconds"),
        ({"mean_offline": math.inf}, "churn.mean_offline must be >= 0 seconds"),
        ({"day": 0.0}, "churn.day must be > 0 seconds"),
        ({"amplitude": 1.2}, "churn.amplitude must be in [0, 1]"),
        ({"phase_spread": -0.5}, "churn.phase_spread must be in [0, 1]"),
        ({"crash_fraction": 2.0}, "churn.crash_fraction must be in [0, 1]"),
        ({"late_join_fraction": 0.3}, "needs churn.late_join_window > 0"),
        ({"late_join_window": -1.0}, "churn.late_join_window must be >= 0"),
        (
            {"model": "trace", "trace": "t.csv", "late_join_fraction": 0.1, "late_join_window": 60.0},
            "cannot be used with model 'trace'",
        ),
        ({"model": "trace"}, "churn.model 'trace' needs churn.trace"),
        ({"model": "trace", "trace": "t.csv", "preset": "iot"}, "'iot' does not apply to model 'trace'"),
        ({"model": "markov", "trace": "t.csv", "preset": "smartphone"}, "set model = 'trace' to replay it"),
        ({"always_online": ("seed", "seed")}, "lists these ids more than once: seed"),
        ({"always_online": ("",)}, "non-empty node ids"),
        ({"model": "markov"}, "churn.model 'markov' needs session lengths: set two of availability"),
        ({"model": "diurnal", "availability": 0.3}, "churn.model 'diurnal' needs session lengths"),
        (
            {"model": "markov", "mean_online": 600.0},
            "with only churn.mean_online needs churn.availability strictly between 0 and 1",
        ),
        (
            {"model": "markov", "mean_offline": 600.0, "availability": 0.0},
            "to derive churn.mean_online, got 0",
        ),
        (
            {"model": "markov", "availability": 0.5, "mean_online": 100.0, "mean_offline": 300.0},
            "churn.availability = 0.5 contradicts mean_online / (mean_online + mean_offline)",
        ),
    ],
)
def test_invalid_configs_say_what_is_wrong(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        ChurnConfig(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(e.value)


def test_config_errors_name_the_spec_file_when_built_from_toml() -> None:
    cfg = build(ChurnConfig, {"preset": "smartphone", "always_online": ["seed"]}, source="sim.toml")
    assert cfg.always_online == ("seed",) and cfg.preset == "smartphone"
    with pytest.raises(ConfigError, match=r"^sim\.toml: churn\.model 'markov' needs session lengths"):
        build(ChurnConfig, {"model": "markov"}, source="sim.toml")
    with pytest.raises(ConfigError, match=r"sim\.toml: unknown key\(s\) churn\.availabilty"):
        build(ChurnConfig, {"availabilty": 0.3}, source="sim.toml", path="churn")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # (model, availability, mean_online, mean_offline) after resolve
        ({"preset": "smartphone"}, ("markov", 0.25, 1800.0, 5400.0)),
        ({"preset": "laptop"}, ("markov", 0.4, 7200.0, 10800.0)),
        ({"preset": "iot"}, ("markov", 0.95, 68400.0, 3600.0)),
        # yours first, then the preset's availability, then its mean_online; the third is derived
        ({"preset": "smartphone", "availability": 0.5}, ("markov", 0.5, 1800.0, 1800.0)),
        ({"preset": "smartphone", "mean_online": 600.0}, ("markov", 0.25, 600.0, 1800.0)),
        ({"preset": "smartphone", "mean_offline": 3600.0}, ("markov", 0.25, 1200.0, 3600.0)),
        (
            {"preset": "smartphone", "mean_online": 100.0, "mean_offline": 300.0},
            ("markov", 0.25, 100.0, 300.0),
        ),
        ({"preset": "smartphone", "model": "diurnal"}, ("diurnal", 0.25, 1800.0, 5400.0)),
        ({"preset": "smartphone", "model": "bernoulli"}, ("bernoulli", 0.25, 0.0, 0.0)),
        ({"model": "markov", "mean_online": 100.0, "mean_offline": 300.0}, ("markov", 0.25, 100.0, 300.0)),
        ({"model": "markov", "availability": 0.2, "mean_offline": 400.0}, ("markov", 0.2, 100.0, 400.0)),
        ({"model": "bernoulli", "availability": 0.7}, ("bernoulli", 0.7, 0.0, 0.0)),
    ],
)
def test_resolve_applies_the_preset_rule(kwargs: dict[str, object], expected: tuple[object, ...]) -> None:
    r = resolve(ChurnConfig(**kwargs))  # type: ignore[arg-type]
    got = (r.model, r.availability, r.mean_online, r.mean_offline)
    assert got[0] == expected[0] and r.preset == ""
    assert np.allclose(got[1:], expected[1:], rtol=1e-12)
    assert resolve(r) == r  # idempotent


def test_presets_are_documented_session_models() -> None:
    for name, preset in PRESETS.items():
        r = resolve(ChurnConfig(preset=name))
        assert math.isclose(r.mean_online / (r.mean_online + r.mean_offline), preset.availability)
    phone = resolve(SMARTPHONE)
    assert phone.availability == 0.25 and 10 * 60 <= phone.mean_online <= 59 * 60  # tens of minutes


# ---------------------------------------------------------------------------------------------
# Arguments of schedule()
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "horizon", "seed", "fragment"),
    [
        ([], 100.0, 0, "needs at least one node"),
        (["a", "b", "a"], 100.0, 0, "listed more than once: a"),
        ("abc", 100.0, 0, "not the single string"),
        (["a", ""], 100.0, 0, "non-empty strings"),
        (["a"], 0.0, 0, "horizon must be a positive number of seconds, got 0.0"),
        (["a"], math.inf, 0, "horizon must be a positive number"),
        (["a"], 100.0, -1, "seed must be an integer in [0, 2**64), got -1"),
        (["a"], 100.0, 1.5, "seed must be an integer"),
    ],
)
def test_bad_schedule_arguments(nodes: object, horizon: float, seed: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        schedule(SMARTPHONE, nodes, horizon, seed)  # type: ignore[arg-type]
    assert fragment in str(e.value)


def test_always_online_nodes_never_churn_and_must_exist() -> None:
    cfg = ChurnConfig(preset="smartphone", always_online=("seed0", "seed1"))
    sched = schedule(cfg, ["seed0", "seed1", *ids(50)], 3 * 3600.0, seed=3)
    assert {"seed0", "seed1"} <= sched.initial_online
    assert not [e for e in sched.events if e.node.startswith("seed")]
    assert {e.node for e in sched.events}  # the others do churn
    with pytest.raises(ConfigError, match="always_online names nodes that are not simulated: seedX"):
        schedule(ChurnConfig(preset="smartphone", always_online=("seedX",)), ids(3), 100.0, 0)


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


# ---------------------------------------------------------------------------------------------
# Late joiners and crashes
# ---------------------------------------------------------------------------------------------


def test_late_joiners_are_offline_until_they_join_then_follow_the_model() -> None:
    cfg = ChurnConfig(model="none", late_join_fraction=0.4, late_join_window=3600.0)
    sched = schedule(cfg, ids(2000), 7200.0, seed=1)
    late = [n for n in sched.nodes if n not in sched.initial_online]
    assert abs(len(late) / 2000 - 0.4) < 0.04  # binomial sd 0.011
    joins = {e.node: e.time for e in sched.events}
    assert set(joins) == set(late) and all(e.up for e in sched.events)
    assert all(0 < t <= 3600.0 for t in joins.values())
    assert abs(np.mean(list(joins.values())) - 1800.0) < 100.0  # uniform in [0, window]
    assert len(sched.online_at(3600.0)) == 2000


def test_late_joiners_under_markov_join_with_an_up_event() -> None:
    cfg = ChurnConfig(preset="smartphone", late_join_fraction=1.0, late_join_window=DAY)
    sched = schedule(cfg, ids(300), DAY / 2, seed=2)
    assert sched.initial_online == frozenset()
    first: dict[str, Event] = {}
    for e in sched.events:
        first.setdefault(e.node, e)
    assert all(e.up for e in first.values())
    assert 0.35 < len(first) / 300 < 0.65  # joins uniform over a day, horizon half a day
    assert_well_formed(sched)


@pytest.mark.parametrize("model", ["markov", "bernoulli", "diurnal"])
def test_crash_fraction_splits_departures(model: str) -> None:
    base = ChurnConfig(preset="smartphone", model=model, crash_fraction=0.3, slot=300.0)
    sched = schedule(base, ids(1000), DAY / 2, seed=3)
    downs = [e for e in sched.events if not e.up]
    assert len(downs) > 3000
    assert abs(np.mean([e.crash for e in downs]) - 0.3) < 0.03
    assert not any(e.crash for e in sched.events if e.up)
    # the split never moves a transition
    for fraction, expect in ((0.0, False), (1.0, True)):
        cfg = ChurnConfig(preset="smartphone", model=model, crash_fraction=fraction, slot=300.0)
        other = schedule(cfg, ids(1000), DAY / 2, 3)
        assert transitions(other) == transitions(sched)
        assert all(e.crash == expect for e in other.events if not e.up)


# ---------------------------------------------------------------------------------------------
# Traces
# ---------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_trace_is_replayed_clipped_and_merged(tmp_path: Path) -> None:
    write(
        tmp_path,
        "node,start,end\n"
        "b, 50, 80\n"
        "a,0,10\n"
        "\n"
        "a,30,40\n"
        "a,10,20\n"  # touches [0, 10): merged into [0, 20)
        "b,90,150\n"  # clipped at the horizon
        "a,100,130\n",  # starts at the horizon: dropped
    )
    cfg = ChurnConfig(model="trace", trace="trace.csv", crash_fraction=0.0)
    sched = schedule(cfg, ["a", "b", "c"], 100.0, seed=0, base_dir=tmp_path)
    assert sched.initial_online == {"a"}
    assert [(e.time, e.node, e.up) for e in sched.events] == [
        (20.0, "a", False),
        (30.0, "a", True),
        (40.0, "a", False),
        (50.0, "b", True),
        (80.0, "b", False),
        (90.0, "b", True),
    ]
    assert sched.online_intervals("c") == ()  # absent from the trace: offline throughout
    assert sched.online_intervals("b") == ((50.0, 80.0), (90.0, 100.0))
    merged = read_trace(tmp_path / "trace.csv", ["a", "b", "c"])
    assert merged["a"] == ((0.0, 20.0), (30.0, 40.0), (100.0, 130.0))


def test_trace_relative_path_needs_the_right_base_dir(tmp_path: Path) -> None:
    write(tmp_path, "node,start,end\na,1,2\n")
    cfg = ChurnConfig(model="trace", trace="trace.csv")
    with pytest.raises(ConfigError, match="trace.csv not found"):
        schedule(cfg, ["a"], 10.0, seed=0, base_dir=tmp_path / "elsewhere")
    assert len(schedule(cfg, ["a"], 10.0, seed=0, base_dir=tmp_path).events) == 2


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        ("", DataError, "the file is empty; it needs the header 'node,start,end'"),
        ("id,from,to\na,1,2\n", DataError, ":1: the first line must be the header 'node,start,end', got 'id"),
        ("node,start,end\na,1,2,3\n", DataError, ":2: expected 3 fields node,start,end, got 4"),
        ("node,start,end\na,1\n", DataError, ":2: expected 3 fields node,start,end, got 2"),
        ("node,start,end\na,1,2\na,soon,5\n", DataError, ":3: start 'soon' is not a number of seconds"),
        ("node,start,end\na,1,nan\n", DataError, ":2: end 'nan' must be a finite number of seconds"),
        ("node,start,end\na,-5,2\n", DataError, ":2: start -5 is negative"),
        ("node,start,end\na,5,5\n", DataError, ":2: end 5 must be after start 5"),
        ("node,start,end\n,1,2\n", DataError, ":2: the node id is empty"),
        (
            "node,start,end\na,0,10\nb,0,10\na,5,20\n",
            DataError,
            ":4: interval [5, 20) of node 'a' overlaps its interval ending at 10 on line 2",
        ),
        (
            "node,start,end\na,0,10\nzed,1,2\nzed,3,4\nq,1,2\n",
            DataError,
            "the trace names nodes that are not simulated: 'zed' (line 3), 'q' (line 5); nodes are a, b",
        ),
    ],
)
def test_bad_traces_name_the_file_and_line(
    tmp_path: Path, text: str, error: type[Exception], fragment: str
) -> None:
    path = write(tmp_path, text)
    cfg = ChurnConfig(model="trace", trace=str(path))
    with pytest.raises(error) as e:
        schedule(cfg, ["a", "b"], 100.0, seed=0)
    assert fragment in str(e.value)
    assert str(path) in str(e.value)


def test_trace_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        schedule(ChurnConfig(model="trace", trace=str(tmp_path)), ["a"], 10.0, 0)
    (tmp_path / "bin.csv").write_bytes(b"node,start,end\n\xff\xfe,1,2\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        schedule(ChurnConfig(model="trace", trace="bin.csv"), ["a"], 10.0, 0, base_dir=tmp_path)


@pytest.mark.parametrize("preset_model", ["markov", "bernoulli", "diurnal"])
def test_format_trace_replays_a_drawn_schedule_exactly(tmp_path: Path, preset_model: str) -> None:
    cfg = ChurnConfig(
        preset="smartphone", model=preset_model, late_join_fraction=0.2, late_join_window=3600.0
    )
    drawn = schedule(cfg, ids(40), 6 * 3600.0, seed=12)
    write(tmp_path, format_trace(drawn), "drawn.csv")
    replay_cfg = ChurnConfig(model="trace", trace="drawn.csv")
    replay = schedule(replay_cfg, ids(40), 6 * 3600.0, 12, base_dir=tmp_path)
    assert replay.initial_online == drawn.initial_online
    assert transitions(replay) == transitions(drawn)


# ---------------------------------------------------------------------------------------------
# Determinism and schedule invariants (property tests)
# ---------------------------------------------------------------------------------------------

node_ids = st.lists(
    st.text("abcdefghij0123456789-_.", min_size=1, max_size=6), min_size=1, max_size=12, unique=True
)


@st.composite
def configs(draw: st.DrawFn) -> ChurnConfig:
    model = draw(st.sampled_from(["none", "bernoulli", "markov", "diurnal"]))
    late = draw(st.sampled_from([0.0, 0.5, 1.0]))
    common = {
        "crash_fraction": draw(st.floats(0, 1)),
        "late_join_fraction": late,
        "late_join_window": draw(st.floats(1.0, 20_000.0)) if late else 0.0,
    }
    if model == "none":
        return ChurnConfig(**common)  # type: ignore[arg-type]
    p = draw(st.floats(0.05, 0.95))
    if model == "bernoulli":
        slot = draw(st.floats(10.0, 2000.0))
        return ChurnConfig(model=model, availability=p, slot=slot, **common)  # type: ignore[arg-type]
    extra = {}
    if model == "diurnal":
        extra = {"day": draw(st.floats(3600.0, DAY)), "phase_spread": draw(st.floats(0, 1))}
    mean_online = draw(st.floats(60.0, 5000.0))
    return ChurnConfig(
        model=model, availability=p, mean_online=mean_online, **extra, **common  # type: ignore[arg-type]
    )


def as_tuples(sched: Schedule) -> list[tuple[float, str, bool, bool]]:
    return [(e.time, e.node, e.up, e.crash) for e in sched.events]


@settings(max_examples=60)
@given(
    cfg=configs(),
    nodes=node_ids,
    seed=st.integers(0, 2**64 - 1),
    horizon=st.floats(100.0, 30_000.0),
    data=st.data(),
)
def test_schedules_are_deterministic_and_independent_of_other_nodes(
    cfg: ChurnConfig, nodes: list[str], seed: int, horizon: float, data: st.DataObject
) -> None:
    sched = schedule(cfg, nodes, horizon, seed)
    assert_well_formed(sched)
    assert as_tuples(schedule(cfg, nodes, horizon, seed)) == as_tuples(sched)
    # another order and a subset of the nodes: each node's own schedule is unchanged
    shuffled = data.draw(st.permutations(nodes))
    assert as_tuples(schedule(cfg, shuffled, horizon, seed)) == as_tuples(sched)
    subset = data.draw(st.lists(st.sampled_from(nodes), min_size=1, unique=True))
    part = schedule(cfg, subset, horizon, seed)
    assert part.initial_online == sched.initial_online & set(subset)
    assert as_tuples(part) == [e for e in as_tuples(sched) if e[1] in subset]
    # a longer horizon extends the schedule without changing its beginning
    longer = schedule(cfg, nodes, 2 * horizon, seed)
    assert longer.initial_online == sched.initial_online
    assert [e for e in as_tuples(longer) if e[0] < horizon] == as_tuples(sched)


def test_different_seeds_and_nodes_give_different_schedules() -> None:
    a = schedule(SMARTPHONE, ["x", "y"], DAY, seed=1)
    b = schedule(SMARTPHONE, ["x", "y"], DAY, seed=2)
    assert as_tuples(a) != as_tuples(b)
    assert a.online_intervals("x") != a.online_intervals("y")


@settings(max_examples=40)
@given(cfg=configs(), nodes=node_ids, seed=st.integers(0, 1000), t0=st.floats(0, 1), t1=st.floats(0, 1))
def test_online_at_and_online_fraction_agree_with_the_events(
    cfg: ChurnConfig, nodes: list[str], seed: int, t0: float, t1: float
) -> None:
    horizon = 10_000.0
    sched = schedule(cfg, nodes, horizon, seed)
    a, b = sorted((t0 * horizon, t1 * horizon))
    # online_at by replaying the events one by one
    for t in (0.0, a, b, horizon):
        up = set(sched.initial_online)
        for e in sched.events:
            if e.time <= t:
                (up.add if e.up else up.discard)(e.node)
        assert sched.online_at(t) == up
    # online_fraction by summing interval overlaps
    total = sum(
        max(0.0, min(e, b) - max(s, a)) for n in sched.nodes for s, e in sched.online_intervals(n)
    )
    expected = total / (len(nodes) * (b - a)) if b > a else len(sched.online_at(a)) / len(nodes)
    assert sched.online_fraction(a, b) == pytest.approx(expected, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# Hand-built schedules
# ---------------------------------------------------------------------------------------------


def test_hand_built_schedule() -> None:
    sched = Schedule(
        ["a", "b"],
        100.0,
        {"a"},
        [Event(10.0, "a", False, crash=True), Event(10.0, "b", True), Event(60.0, "a", True)],
    )
    assert sched.online_at(5.0) == {"a"}
    assert sched.online_at(10.0) == {"b"}
    assert sched.online_at(1e9) == {"a", "b"}
    assert sched.online_fraction() == pytest.approx((10 + 40 + 90) / 200)
    assert sched.online_fraction(50.0, 50.0) == 0.5
    assert sched.online_intervals("a") == ((0.0, 10.0), (60.0, 100.0))
    assert "2 nodes" in repr(sched)
    with pytest.raises(ValueError, match="t0 <= t1"):
        sched.online_fraction(50.0, 10.0)


@pytest.mark.parametrize(
    ("events", "fragment"),
    [
        ([Event(10.0, "c", True)], "names a node that is not one of the nodes"),
        ([Event(0.0, "b", True)], "outside (0, horizon=100.0]"),
        ([Event(101.0, "b", True)], "outside (0, horizon=100.0]"),
        ([Event(20.0, "b", True), Event(10.0, "b", False)], "is not after the previous one"),
        ([Event(10.0, "b", True), Event(10.0, "a", False)], "is not after the previous one"),
        ([Event(10.0, "a", True)], "is no transition: 'a' is already online"),
        ([Event(10.0, "b", True, crash=True)], "only a departure (up=False) can be a crash"),
    ],
)
def test_hand_built_schedule_is_checked(events: list[Event], fragment: str) -> None:
    with pytest.raises(ValueError) as e:
        Schedule(["a", "b"], 100.0, {"a"}, events)
    assert fragment in str(e.value)


# ---------------------------------------------------------------------------------------------
# Speed
# ---------------------------------------------------------------------------------------------


def test_five_thousand_smartphones_for_a_day_take_well_under_two_seconds() -> None:
    # measured ~0.7 s on a loaded 2-core machine; the bound leaves room for a busy CI box
    started = time.perf_counter()
    sched = schedule(SMARTPHONE, ids(5000), DAY, seed=0)
    n_events = len(sched.events)
    elapsed = time.perf_counter() - started
    assert 100_000 < n_events < 140_000  # ~24 transitions per node a day
    assert elapsed < 3.0, f"{elapsed:.2f} s"
