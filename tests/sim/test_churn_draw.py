"""Tests of p2pfed.sim.churn.draw: schedule() arguments, late joiners, crashes, determinism, speed."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfed.errors import ConfigError
from p2pfed.sim.churn import ChurnConfig, Event, Schedule, schedule

DAY = 86400.0
SMARTPHONE = ChurnConfig(preset="smartphone")


def ids(n: int, prefix: str = "n") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


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
