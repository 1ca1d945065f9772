"""Liveness tracking: silent neighbours go down, returning ones are reported back."""

from p2pfed.gossip.liveness import Liveness


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


# --- the cached next_expiry against a brute-force model ---------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_OPS = st.lists(
    st.tuples(st.sampled_from(["heard", "expire", "expiry"]), st.sampled_from("abcd"), st.floats(0, 3)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_OPS, st.booleans())
def test_next_expiry_matches_a_brute_force_model(ops: list[tuple[str, str, float]], clock_back: bool) -> None:
    """Whatever the order of heard / expire calls (and even a clock stepping back), the cached answer is exact."""
    live = Liveness("abc", timeout=2.0)
    last: dict[str, float] = {}
    up: set[str] = set()
    now = 0.0
    for op, peer, dt in ops:
        now = now - dt / 4 if clock_back and dt > 2.5 else now + dt
        if op == "heard":
            back = peer not in up
            assert live.heard(peer, now) == back
            last[peer] = now
            up.add(peer)
        elif op == "expire":
            gone = sorted(p for p in up if not now < last[p] + 2.0)
            assert live.expire(now) == gone
            up -= set(gone)
        expected = min((last[p] for p in up), default=float("inf")) + 2.0
        assert live.next_expiry() == expected
