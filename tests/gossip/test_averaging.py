"""Gossip averaging math and delta/reference bookkeeping (property-tested)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from p2pfed.gossip import averaging

vec = arrays(np.float32, 16, elements=st.floats(-1e3, 1e3, width=32))
weight = st.floats(0.5, 1000)


@given(vec, weight, vec, weight)
def test_merge_is_weighted_mean_and_symmetric(a, wa, b, wb):
    m = averaging.merge(a, wa, b, wb)
    expected = (wa * a.astype(np.float64) + wb * b.astype(np.float64)) / (wa + wb)
    np.testing.assert_allclose(m, expected, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(averaging.merge(b, wb, a, wa), m, rtol=1e-5, atol=1e-3)
    assert m.dtype == np.float32
    # the merged model lies between the two
    assert np.all(m >= np.minimum(a, b) - 1e-3) and np.all(m <= np.maximum(a, b) + 1e-3)


def test_merge_rejects_nonpositive_weights():
    with pytest.raises(ValueError):
        averaging.merge(np.zeros(2, np.float32), 0.0, np.zeros(2, np.float32), 1.0)


@given(st.integers(2, 12), st.integers(0, 2**31), st.booleans())
def test_pairwise_averaging_preserves_the_weighted_sum(n, seed, equal):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((n, 5))
    ws = np.ones(n) if equal else rng.uniform(1, 100, n)
    total = (ws[:, None] * xs).sum(axis=0)
    for _ in range(50):
        i, j = rng.choice(n, 2, replace=False)
        averaging.pairwise_average(xs, ws, i, j)
    np.testing.assert_allclose((ws[:, None] * xs).sum(axis=0), total, rtol=1e-9, atol=1e-9)
    if equal:  # with equal weights that is the plain sum of models
        np.testing.assert_allclose(xs.sum(axis=0), total, atol=1e-9)


@given(st.sampled_from(["ring", "regular", "er", "star"]), st.integers(3, 16), st.integers(0, 2**31))
def test_repeated_gossip_on_a_connected_graph_reaches_the_mean(kind, n, seed):
    rng = np.random.default_rng(seed)
    if kind == "ring":
        g = nx.cycle_graph(n)
    elif kind == "star":
        g = nx.star_graph(n - 1)
    elif kind == "regular":
        g = nx.random_regular_graph(2 if n % 2 else 3, n, seed=seed % 1000)
        if not nx.is_connected(g):
            g = nx.cycle_graph(n)
    else:
        g = nx.erdos_renyi_graph(n, 0.5, seed=seed % 1000)
        if not nx.is_connected(g):
            g = nx.cycle_graph(n)
    edges = list(g.edges)
    xs = rng.standard_normal((n, 4)) * 10
    ws = rng.uniform(1, 50, n)
    target = (ws[:, None] * xs).sum(0) / ws.sum()
    spread0 = np.abs(xs - target).max()
    for _ in range(400):  # up to 400 * 100 random exchanges; a ring of 16 needs ~20k
        for i, j in (edges[k] for k in rng.integers(len(edges), size=100)):
            averaging.pairwise_average(xs, ws, i, j)
        if np.abs(xs - target).max() < 1e-6 * spread0:
            break
    np.testing.assert_allclose(xs, np.broadcast_to(target, xs.shape), atol=1e-6 * spread0)


@given(st.lists(st.tuples(vec, st.booleans(), st.booleans()), min_size=1, max_size=25))
def test_delta_chain_reconstructs_every_model_without_drift(steps):
    """Send a sequence of models over a lossy link (lost messages, lost acks): every delivered
    model is rebuilt exactly as the sender's reconstruction, keyframes only when needed."""
    out, inc = averaging.OutgoingLink(), averaging.IncomingLink()
    seq = 0
    for x, delivered, ack_delivered in steps:
        seq += 1
        base, payload, rebuilt = out.encode(x)
        out.sent(seq, rebuilt)
        np.testing.assert_allclose(rebuilt, x, rtol=1e-5, atol=1e-2)
        if not delivered:
            continue
        got = inc.decode(seq, base, payload)
        assert got is not None, "a delta against a reference the receiver dropped"
        np.testing.assert_array_equal(got, rebuilt)
        if ack_delivered:
            out.acked(inc.newest)


def test_ack_zero_forces_keyframe_and_unknown_base_is_reported():
    out, inc = averaging.OutgoingLink(), averaging.IncomingLink()
    x = np.ones(4, np.float32)
    base, payload, rebuilt = out.encode(x)
    assert base == 0
    out.sent(1, rebuilt)
    inc.decode(1, base, payload)
    out.acked(1)
    base, payload, _ = out.encode(x * 2)
    assert base == 1
    fresh = averaging.IncomingLink()  # receiver restarted
    assert fresh.decode(2, base, payload) is None
    out.acked(0)
    assert out.encode(x)[0] == 0
    out.acked(12345)  # a stale ack changes nothing
    assert out.encode(x)[0] == 0
