"""Property tests of the partitioners: disjoint, covering, sensible sizes, deterministic, skewed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfed.data import partition as P
from p2pfed.errors import DataError


def _is_partition(parts: list[np.ndarray], n: int) -> None:
    """Disjoint, ascending int arrays that together are exactly 0..n-1."""
    for p in parts:
        assert p.dtype.kind == "i" and np.all(np.diff(p) > 0)
    allrows = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    assert len(allrows) == n and np.array_equal(np.sort(allrows), np.arange(n))


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


subjects_st = st.lists(st.integers(-3, 12), min_size=1, max_size=200).map(np.array)


@settings(max_examples=60, deadline=None)
@given(subject=subjects_st)
def test_by_person(subject: np.ndarray) -> None:
    parts = P.by_person(subject)
    _is_partition(parts, len(subject))
    ids = np.unique(subject)
    assert len(parts) == len(ids)
    for p, s in zip(parts, ids):
        assert np.all(subject[p] == s)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    devices=st.integers(1, 5),
    order=st.sampled_from(P.ORDERS),
    seed=st.integers(0, 50),
    data=st.data(),
)
def test_person_across_devices(
    sizes: list[int], devices: int, order: str, seed: int, data: st.DataObject
) -> None:
    sizes = [max(s, devices) for s in sizes]
    subject = np.repeat(np.arange(len(sizes)) * 7, sizes)
    subject = subject[data.draw(st.permutations(range(len(subject))))]  # people interleaved in time
    parts = P.person_across_devices(subject, devices, order, seed)
    _is_partition(parts, len(subject))
    assert len(parts) == len(sizes) * devices
    for k, p in enumerate(parts):
        person = np.unique(subject)[k // devices]
        assert np.all(subject[p] == person)
        n = sizes[k // devices]
        assert len(p) in (n // devices, -(-n // devices))
    assert _same(parts, P.person_across_devices(subject, devices, order, seed))
    if order == "time":  # each device holds one contiguous stretch of its person's rows
        for k in range(len(sizes)):
            mine = parts[k * devices : (k + 1) * devices]
            for a, b in zip(mine, mine[1:]):
                if len(a) and len(b):
                    assert a.max() < b.min()


def test_devices_shuffle_depends_on_the_person_only() -> None:
    subject = np.repeat([4, 9], 30)
    both = P.person_across_devices(subject, 3, "shuffle", 5)
    alone = P.person_across_devices(subject[subject == 9], 3, "shuffle", 5)
    for a, b in zip(both[3:], alone):
        np.testing.assert_array_equal(a - 30, b)
    assert not _same(both, P.person_across_devices(subject, 3, "shuffle", 6))
    with pytest.raises(DataError, match="subject 4 has 30 row"):
        P.person_across_devices(subject, 31)
    with pytest.raises(DataError, match="data.partition.order"):
        P.person_across_devices(subject, 2, "random")


@settings(max_examples=60, deadline=None)
@given(
    n_classes=st.integers(1, 8),
    n=st.integers(0, 600),
    nodes=st.integers(1, 30),
    alpha=st.sampled_from([0.01, 0.1, 0.5, 1.0, 10.0, 1000.0]),
    seed=st.integers(0, 1000),
    min_rows=st.integers(0, 5),
)
def test_dirichlet_properties(
    n_classes: int, n: int, nodes: int, alpha: float, seed: int, min_rows: int
) -> None:
    y = np.random.default_rng(seed).integers(0, n_classes, n)
    if nodes * min_rows > n:  # (also: fewer rows than nodes leaves some nodes empty when allowed)
        with pytest.raises(DataError, match="cannot give"):
            P.dirichlet_labels(y, nodes, alpha, seed, min_rows)
        return
    parts = P.dirichlet_labels(y, nodes, alpha, seed, min_rows)
    _is_partition(parts, n)
    assert len(parts) == nodes
    assert {len(p) for p in parts} <= {n // nodes, -(-n // nodes)}  # equal sizes, as in Hsu et al.
    assert min(len(p) for p in parts) >= min_rows
    assert _same(parts, P.dirichlet_labels(y, nodes, alpha, seed, min_rows))


def _top2_share(y: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    return np.array([np.sort(np.bincount(y[p]))[::-1][:2].sum() / len(p) for p in parts])


def test_small_alpha_leaves_nodes_dominated_by_one_or_two_labels() -> None:
    y = np.random.default_rng(0).integers(0, 6, 7415)  # the shape of UCI HAR's train volunteers
    skewed = _top2_share(y, P.dirichlet_labels(y, 50, 0.1, seed=1))
    iid = _top2_share(y, P.dirichlet_labels(y, 50, 1000.0, seed=1))
    assert np.mean(skewed >= 0.9) > 0.8  # most nodes: one or two labels
    assert np.all(iid < 0.5)  # close to the pooled mix (two of six classes ~ 1/3)
    middle = _top2_share(y, P.dirichlet_labels(y, 50, 1.0, seed=1))
    assert iid.mean() < middle.mean() < skewed.mean()
    assert not _same(P.dirichlet_labels(y, 50, 0.1, seed=1), P.dirichlet_labels(y, 50, 0.1, seed=2))


def test_dirichlet_mistakes() -> None:
    y = np.zeros(30, np.int64)
    for alpha in (0.0, -1.0, float("nan"), True):
        with pytest.raises(DataError, match="alpha must be a number > 0"):
            P.dirichlet_labels(y, 3, alpha)
    with pytest.raises(DataError, match=r"30 rows cannot give 4 nodes at least 10 rows each"):
        P.dirichlet_labels(y, 4, 0.5)
    with pytest.raises(DataError, match="nodes must be an integer >= 1"):
        P.dirichlet_labels(y, 0, 0.5)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 800),
    nodes=st.integers(1, 30),
    sigma=st.floats(0.0, 3.0),
    seed=st.integers(0, 1000),
    min_rows=st.integers(0, 10),
)
def test_quantity_skew_properties(n: int, nodes: int, sigma: float, seed: int, min_rows: int) -> None:
    if nodes * min_rows > n:
        with pytest.raises(DataError, match="cannot give"):
            P.quantity_skew(n, nodes, sigma, seed, min_rows)
        return
    parts = P.quantity_skew(n, nodes, sigma, seed, min_rows)
    _is_partition(parts, n)
    assert len(parts) == nodes and min(len(p) for p in parts) >= min_rows
    assert _same(parts, P.quantity_skew(n, nodes, sigma, seed, min_rows))


def test_quantity_skew_grows_with_sigma() -> None:
    equal = [len(p) for p in P.quantity_skew(1000, 10, 0.0)]
    assert equal == [100] * 10
    spread = [np.std([len(p) for p in P.quantity_skew(5000, 20, s, seed=3)]) for s in (0.3, 1.0, 2.0)]
    assert spread[0] < spread[1] < spread[2]
    # the rows are dealt at random: each node sees the pooled label mix
    y = np.arange(5000) % 2
    shares = [y[p].mean() for p in P.quantity_skew(5000, 10, 1.0, min_rows=100)]
    assert all(0.35 < s < 0.65 for s in shares)
    with pytest.raises(DataError, match="sigma"):
        P.quantity_skew(100, 2, -1.0)


def test_dominant_label() -> None:
    assert P.dominant_label(np.array([2, 1, 2, 0])) == 2
    assert P.dominant_label(np.array([3, 1])) == 1
    with pytest.raises(DataError):
        P.dominant_label(np.array([], np.int64))
