"""Sequence numbers survive restarts; the replay window accepts each number exactly once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pfed.wire.sequence import ReplayGuard, ReplayWindow, SequenceCounter


def test_counter_is_strictly_increasing_and_flags_persistence():
    c = SequenceCounter(10, reserve=10)
    assert c.needs_persist  # a fresh reservation must be written before use
    assert c.persisted() == 20
    seqs = [c.next() for _ in range(30)]
    assert seqs == list(range(10, 40))
    assert c.needs_persist  # crossed half the reservation
    assert c.reserved >= max(seqs) + 5


@given(st.lists(st.integers(1, 50), min_size=1, max_size=20), st.integers(2, 64))
def test_resumed_counter_never_reuses_a_number(runs, reserve):
    """Whatever happens between checkpoints, a restart starts above everything ever issued,
    provided the reservation was persisted whenever the counter asked for it."""
    persisted = None
    issued: list[int] = []
    now = 0.0  # a clock that never moves (a Pi without RTC): only the reservation protects us
    for n in runs:
        c = SequenceCounter.resume(persisted, now, reserve)
        persisted = c.persisted()
        for _ in range(n):
            issued.append(c.next())
            if c.needs_persist:
                persisted = c.persisted()
    assert len(issued) == len(set(issued))
    assert issued == sorted(issued)


def test_resume_uses_clock_when_state_is_lost():
    c = SequenceCounter.resume(None, now=1_700_000_000.0)
    assert c.next() >= 1_700_000_000_000_000


def test_window_rejects_duplicates_and_old():
    w = ReplayWindow(size=4)
    for s in (5, 3, 4):
        assert w.check(s)
        w.commit(s)
    assert not w.check(5) and not w.check(3)
    assert w.check(2)  # within the window, unseen
    w.commit(9)
    assert not w.check(5)  # now too old (9 - 5 >= 4)
    assert w.check(6) and not w.check(9) and w.check(10)
    assert not w.check(0) and not w.check(-1)
    with pytest.raises(ValueError):
        w.commit(9)


@given(st.lists(st.integers(1, 200), max_size=300), st.integers(1, 64))
def test_window_accepts_each_number_at_most_once(seqs, size):
    w = ReplayWindow(size=size)
    accepted = []
    for s in seqs:
        if w.check(s):
            w.commit(s)
            accepted.append(s)
    assert len(accepted) == len(set(accepted))
    # everything newer than anything seen before it is always accepted
    high = 0
    for s in seqs:
        if s > high:
            assert s in accepted
            high = s


@given(st.lists(st.integers(1, 10_000), unique=True, max_size=100), st.integers(8, 128))
def test_window_accepts_in_order_and_near_reorder(seqs, size):
    """Distinct numbers arriving at most size-1 behind the highest are all accepted."""
    w = ReplayWindow(size=size)
    high = 0
    for s in seqs:
        expected = s > high or high - s < size
        assert w.check(s) == expected
        if expected:
            w.commit(s)
            high = max(high, s)


def test_guard_marks_survive_restart():
    g = ReplayGuard(size=16)
    g.commit("a", 100)
    g.commit("b", 7)
    g2 = ReplayGuard(size=16, marks=g.marks())
    assert g2.marks() == {"a": 100, "b": 7}
    assert not g2.check("a", 100) and not g2.check("a", 95)  # everything up to the mark is "seen"
    assert g2.check("a", 101) and g2.check("c", 1)


def test_a_huge_forward_jump_costs_no_memory() -> None:
    # a restarted sender jumps ~1e15 ahead (clock in microseconds): the window is cleared at
    # once, instead of shifting a bit set by 1e15 places (gigabytes, MemoryError)
    w = ReplayWindow(64, high=5)
    w.commit(10**15)
    assert w.high == 10**15 and not w.check(10**15) and w.check(10**15 - 1) and not w.check(5)
