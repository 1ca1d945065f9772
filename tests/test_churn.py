"""Liveness tracking: silent neighbours go down, returning ones are reported back."""

from p2pfed.churn import Liveness


def test_liveness_transitions():
    lv = Liveness(["a", "b"], timeout=2.0)
    assert lv.alive(0.0) == []
    assert lv.heard("a", 0.0) is True  # first contact counts as "came up"
    assert lv.heard("a", 1.0) is False
    lv.heard("b", 0.5)
    assert sorted(lv.alive(2.0)) == ["a", "b"]
    assert lv.alive(2.6) == ["a"]
    assert lv.expire(2.6) == ["b"]
    assert lv.expire(2.7) == []
    assert lv.heard("b", 3.0) is True  # back
    assert lv.expire(10.0) == ["a", "b"]
    assert lv.last_heard("a") == 1.0 and lv.last_heard("zzz") is None


def test_next_expiry_only_counts_peers_that_are_up():
    lv = Liveness(["a", "b"], timeout=2.0)
    assert lv.next_expiry() == float("inf")
    lv.heard("a", 1.0)
    lv.heard("b", 3.0)
    assert lv.next_expiry() == 3.0
    lv.expire(3.5)  # a goes down: its old time must not keep the deadline in the past
    assert lv.next_expiry() == 5.0
