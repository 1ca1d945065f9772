"""Tests of p2pfed.sim.churn.timeline: hand-built schedules, their checks and queries."""

from __future__ import annotations

import pytest

from p2pfed.sim.churn import Event, Schedule


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
