"""The sans-I/O node core, driven in virtual time by a tiny deterministic harness (real crypto)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from helpers import CoreNet as Net
from helpers import Federation, federation, forge, vector
from p2pfed.wire.codec import Fields
from p2pfed.gossip.algorithms import NodeCore
from p2pfed.gossip.core import CoreConfig, CoreSpec, Train
from p2pfed.types import TrainStats

CFG = CoreConfig(period=1.0, jitter=0.2, merge="weighted", exchange_timeout=2.0, heartbeat_interval=0.5, peer_timeout=2.0, local_steps=0)


def ring(fed: Federation, params: dict[str, np.ndarray], weights: dict[str, float], cfg: CoreConfig = CFG) -> dict[str, NodeCore]:
    ids = fed.ids
    n = len(ids)
    return {
        i: NodeCore(CoreSpec(i, (ids[(k - 1) % n], ids[(k + 1) % n]) if n > 2 else (ids[1 - k],), weights[i], cfg), fed.wire(i), params[i], rng=random.Random(k))
        for k, i in enumerate(ids)
    }


def test_two_nodes_average_exactly():
    fed = federation(2)
    xs = {"n0": vector(seed=1), "n1": vector(seed=2)}
    cores = ring(fed, xs, {"n0": 1.0, "n1": 3.0})
    net = Net(cores)
    net.run(1.5)  # first round of each happens in (0.1, 1.0]
    expected = (1.0 * xs["n0"].astype(np.float64) + 3.0 * xs["n1"]) / 4.0
    for c in cores.values():
        np.testing.assert_allclose(c.params, expected, rtol=1e-5, atol=1e-6)
        assert c.counters.exchanges >= 1 and c.counters.rejected == 0


def test_ring_converges_to_weighted_mean_with_deltas():
    fed = federation(6)
    rng = np.random.default_rng(0)
    xs = {i: vector(seed=k) * 5 for k, i in enumerate(fed.ids)}
    ws = {i: float(rng.integers(10, 100)) for i in fed.ids}
    target = sum(ws[i] * xs[i].astype(np.float64) for i in fed.ids) / sum(ws.values())
    cores = ring(fed, xs, ws)
    net = Net(cores)
    net.run(60.0)
    for c in cores.values():
        np.testing.assert_allclose(c.params, target, atol=1e-4)
        assert c.counters.rejected == 0, c.counters.rejections
        assert c.counters.keyframes_out <= 4, "deltas should be used once references are acknowledged"
        assert c.counters.exchanges > 20


def test_training_result_is_applied_as_a_delta():
    fed = federation(2)
    xs = {"n0": np.zeros(fed.manifest.size, "<f4"), "n1": np.zeros(fed.manifest.size, "<f4")}
    cfg = CoreConfig(**{**CFG.__dict__, "local_steps": 1})
    cores = ring(fed, xs, {"n0": 1.0, "n1": 1.0}, cfg)
    c = cores["n0"]
    c.start(0.0)
    (train,) = [a for a in c.on_timer(5.0) if isinstance(a, Train)]
    assert c.training and not [a for a in c.on_timer(5.0) if isinstance(a, Train)]  # one at a time
    # while training, a merge moves the model; the training delta must land on top of it
    c.params = c.params + 1.0
    c.on_trained(5.1, train.params, train.params + 0.5, TrainStats(1, 32, 0.1))
    np.testing.assert_allclose(c.params, 1.5)
    assert not c.training and c.age == 1


def equal_ring(n: int) -> tuple[Federation, dict[str, NodeCore], Net]:
    """`n` cores on a ring, with distinct models and equal weights, on a network."""
    fed = federation(n)
    xs = {i: vector(seed=k) for k, i in enumerate(fed.ids)}
    cores = ring(fed, xs, {i: 1.0 for i in fed.ids})
    return fed, cores, Net(cores)


def test_dead_neighbour_is_skipped_and_nobody_stalls():
    fed, cores, net = equal_ring(5)
    net.run(10.0)
    before = {i: c.counters.exchanges for i, c in cores.items()}
    net.down.add("n2")
    net.run(30.0)
    for i in ("n1", "n3"):  # n2's neighbours
        assert "n2" not in cores[i].alive_neighbours(net.now)
    for i in ("n0", "n1", "n3", "n4"):
        assert cores[i].counters.exchanges > before[i] + 5, f"{i} stalled"
    # timeouts only while n2 was still believed alive (bounded by peer_timeout / period)
    assert cores["n1"].counters.timeouts <= 3


def test_restarted_node_is_resynced_by_keyframe_and_never_taken_for_replay():
    fed, cores, net = equal_ring(3)
    net.run(10.0)
    net.down.add("n1")
    net.run(15.0)
    old = cores["n1"]
    # restart: params from "disk", links and caches gone, seq resumed above the reservation
    from p2pfed.wire.sequence import SequenceCounter

    wire = fed.wire("n1")
    wire.seq = SequenceCounter.resume(old.wire.seq.reserved, now=0.0)
    wire.replay = type(old.wire.replay)(old.wire.replay.size, old.wire.replay.marks())
    cores["n1"] = NodeCore(CoreSpec("n1", old.neighbours, 1.0, CFG), wire, old.params, rng=random.Random(99))
    net.down.discard("n1")
    net.apply(cores["n1"], cores["n1"].start(net.now))
    ex = cores["n1"].counters.exchanges
    net.run(40.0)
    assert cores["n1"].counters.exchanges > ex + 10
    for c in cores.values():
        assert c.counters.rejections.get("replay", 0) == 0
        assert c.counters.rejections.get("missing_reference", 0) <= 2  # resync costs at most a round trip
    spread = max(np.abs(c.params - cores["n0"].params).max() for c in cores.values())
    assert spread < 1e-3


def test_missing_reference_recovers_with_keyframe():
    fed = federation(2)
    xs = {"n0": vector(seed=1), "n1": vector(seed=2)}
    cores = ring(fed, xs, {"n0": 1.0, "n1": 1.0})
    net = Net(cores)
    net.run(5.0)
    n0, n1 = cores["n0"], cores["n1"]
    n1._peers["n0"].inc.reset()  # n1 loses n0's references (as after a crash)
    (push,) = n0._push(net.now)  # a delta n1 can no longer rebuild
    assert n0._peers["n1"].out.ref is not None
    (reply,) = n1.on_message(net.now, push.frames)
    assert n1.counters.rejections["missing_reference"] == 1
    before = n0.params.copy()
    n0.on_message(net.now, reply.frames)
    np.testing.assert_array_equal(n0.params, before)  # n1 did not merge, so n0 does not either
    assert n0._peers["n1"].out.ref is None  # the ack=0 makes the next model a keyframe
    keyframes = n0.counters.keyframes_out
    net.run(15.0)
    assert n0.counters.keyframes_out == keyframes + 1
    assert n1.counters.rejections["missing_reference"] == 1
    np.testing.assert_allclose(n0.params, n1.params, atol=1e-5)


def test_heartbeat_ack_zero_resyncs_before_any_delta_is_wasted():
    fed = federation(2)
    cores = ring(fed, {"n0": vector(seed=1), "n1": vector(seed=2)}, {"n0": 1.0, "n1": 1.0})
    net = Net(cores)
    net.run(5.0)
    cores["n1"]._peers["n0"].inc.reset()
    net.run(15.0)
    assert cores["n1"].counters.rejected == 0


def test_hostile_input_never_raises_and_leaves_model_unchanged():
    fed = federation(3)
    c = NodeCore(CoreSpec("n1", ("n0", "n2"), 1.0, CFG), fed.wire("n1"), vector())
    before = c.params.copy()
    inputs = [
        [],
        [b""],
        [b"x"] * 3,
        [b"x"] * 50,
        forge(fed, signer="n2", sender="n0"),
        forge(fed, payload=np.full(fed.manifest.size, np.nan, "<f4")),
        forge(fed, recipient="n2"),
        forge(fed, fields=Fields(base=77, weight=1.0)),  # delta against nothing we hold
    ]
    for frames in inputs:
        c.on_message(1.0, frames)
    np.testing.assert_array_equal(c.params, before)
    assert c.counters.rejected == len(inputs)
    assert c.counters.exchanges == 0


def test_huge_delta_overflowing_to_inf_is_rejected():
    fed = federation(2)
    c = NodeCore(CoreSpec("n1", ("n0",), 1.0, CFG), fed.wire("n1"), np.full(fed.manifest.size, 3e38, "<f4"))
    first = forge(fed, seq=10, payload=np.full(fed.manifest.size, 3e38, "<f4"))
    c.on_message(1.0, first)  # keyframe accepted and merged
    before = c.params.copy()
    delta = forge(fed, seq=11, fields=Fields(base=10, weight=1.0), payload=np.full(fed.manifest.size, 3e38, "<f4"))
    c.on_message(1.1, delta)  # ref + delta overflows
    assert c.counters.rejections["non_finite"] == 1
    np.testing.assert_array_equal(c.params, before)


def test_weight_must_be_positive():
    fed = federation(2)
    with pytest.raises(ValueError, match="weight"):
        NodeCore(CoreSpec("n0", ("n1",), 0.0, CFG), fed.wire("n0"), vector())


def test_concurrent_exchanges_conserve_the_weighted_sum():
    """High latency makes exchanges overlap constantly; the weighted sum must still hold exactly
    whenever no exchange is in flight, and everyone must reach the weighted mean."""
    fed = federation(5)
    xs = {i: vector(seed=k) for k, i in enumerate(fed.ids)}
    ws = {i: float(k + 1) for k, i in enumerate(fed.ids)}
    target = sum(ws[i] * xs[i].astype(np.float64) for i in fed.ids) / sum(ws.values())
    cfg = CoreConfig(**{**CFG.__dict__, "period": 0.3, "exchange_timeout": 5.0})
    cores = ring(fed, xs, ws, cfg)
    net = Net(cores, latency=0.2)
    net.run(120.0)
    for c in cores.values():
        np.testing.assert_allclose(c.params, target, atol=1e-4)
        assert c.counters.timeouts == 0


def test_late_reply_is_merged_but_not_if_the_responder_did_not_merge():
    fed = federation(2)
    cfg = CoreConfig(**{**CFG.__dict__, "period": 1000.0, "heartbeat_interval": 1000.0, "peer_timeout": 5000.0})
    cores = ring(fed, {"n0": vector(seed=1), "n1": vector(seed=2)}, {"n0": 1.0, "n1": 1.0}, cfg)
    n0, n1 = cores["n0"], cores["n1"]
    for c in cores.values():
        c.start(0.0)
    n0.liveness.heard("n1", 0.0)
    (push,) = n0._push(0.0)
    (reply,) = n1.on_message(0.1, push.frames)
    n0.on_timer(10.0)  # the exchange times out before the reply arrives
    assert n0.counters.timeouts == 1
    n0.on_message(10.1, reply.frames)  # late, but the responder merged: average it in
    np.testing.assert_allclose(n0.params, n1.params, atol=1e-6)
    # a reply saying "could not merge" (ack 0) must never be merged, late or not
    n1._peers["n0"].inc.reset()
    (push2,) = n0._push(11.0)  # a delta n1 can no longer rebuild
    n0.on_timer(20.0)
    assert n0.counters.timeouts == 2
    before = n0.params.copy()
    (reply2,) = n1.on_message(20.1, push2.frames)
    assert n1.counters.rejections["missing_reference"] == 1
    n0.on_message(20.2, reply2.frames)
    np.testing.assert_array_equal(n0.params, before)
