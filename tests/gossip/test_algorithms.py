"""The decentralized-learning algorithm cores, driven in virtual time by a deterministic harness (real crypto)."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest
from helpers import CoreNet as Net
from helpers import Federation, federation, forge, vector
from hypothesis import given
from hypothesis import strategies as st

from p2pfed.wire import codec
from p2pfed.wire.codec import Fields, Kind
from p2pfed.errors import ConfigError
from p2pfed.gossip.counters import Counters
from p2pfed.gossip.algorithms import (
    ALGORITHMS,
    AgeGossipCore,
    AlgorithmOptions,
    DPSGDCore,
    EpidemicCore,
    ProtocolCore,
    PushSumCore,
    age_merge,
    make_core,
    metropolis_hastings,
    mh_matrix,
    mh_weight,
)
from p2pfed.gossip.algorithms import NodeCore
from p2pfed.gossip.core import CoreConfig, CoreSpec, Train
from p2pfed.types import TrainStats

CFG = CoreConfig(
    period=1.0,
    jitter=0.2,
    merge="weighted",
    exchange_timeout=2.0,
    heartbeat_interval=0.5,
    peer_timeout=2.0,
    local_steps=0,
)
OPTS = AlgorithmOptions(round_deadline=0.5, epidemic_s=2)


def ring_neighbours(ids: list[str]) -> dict[str, list[str]]:
    n = len(ids)
    return {i: [ids[(k - 1) % n], ids[(k + 1) % n]] if n > 2 else [ids[1 - k]] for k, i in enumerate(ids)}


def build(
    algorithm: str,
    fed: Federation,
    params: dict[str, np.ndarray],
    weights: dict[str, float] | None = None,
    neighbours: dict[str, list[str]] | None = None,
    cfg: CoreConfig = CFG,
    options: AlgorithmOptions = OPTS,
    ages: dict[str, int] | None = None,
) -> dict[str, ProtocolCore]:
    nbrs = neighbours or ring_neighbours(fed.ids)
    return {
        i: make_core(
            algorithm,
            CoreSpec(i, tuple(nbrs[i]), (weights or {}).get(i, 1.0), cfg, tuple(fed.ids), options),
            fed.wire(i),
            params[i],
            rng=random.Random(k),
            counters=Counters(),
            age=(ages or {}).get(i, 0),
        )
        for k, i in enumerate(fed.ids)
    }


def spread(cores: dict[str, ProtocolCore]) -> float:
    """Consensus distance: root mean squared distance of the models to their mean."""
    xs = np.stack([c.model().astype(np.float64) for c in cores.values()])
    return float(np.sqrt(((xs - xs.mean(axis=0)) ** 2).sum(axis=1).mean()))


def kind_and_recipient(frames: list[bytes]) -> tuple[Kind, str]:
    kind, header = codec.decode_head(frames[0])
    return kind, header.recipient


# --- registry ---------------------------------------------------------------------------------------


def test_registry_builds_every_algorithm_behind_one_interface():
    fed = federation(3)
    xs = {i: vector(seed=k) for k, i in enumerate(fed.ids)}
    expected = {
        "gossip": NodeCore,
        "gossip-age": AgeGossipCore,
        "dpsgd": DPSGDCore,
        "push-sum": PushSumCore,
        "epidemic": EpidemicCore,
    }
    for name in ALGORITHMS:
        core = build(name, fed, xs)["n1"]
        assert isinstance(core, ProtocolCore), name
        assert isinstance(core, expected.get(name, object)), name
        np.testing.assert_allclose(core.model(), xs["n1"], rtol=1e-6)
        np.testing.assert_allclose(core.params, core.model())
    with pytest.raises(ConfigError, match="unknown algorithm 'fedavg'.*gossip-age"):
        build("fedavg", fed, xs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"round_deadline": 1.0}, "round_deadline"),
        ({"round_deadline": 0.0}, "round_deadline"),
        ({"round_deadline": float("nan")}, "round_deadline"),
        ({"epidemic_s": 0}, "epidemic_s"),
        ({"epidemic_s": 2.5}, "epidemic_s"),
    ],
)
def test_algorithm_options_are_validated(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        AlgorithmOptions(**kwargs)


# --- consensus without training ----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["gossip", "gossip-age", "dpsgd", "push-sum", "epidemic"])
def test_every_algorithm_reaches_consensus_without_training(algorithm):
    fed = federation(6)
    xs = {i: vector(seed=k) * 3 for k, i in enumerate(fed.ids)}
    cores = build(algorithm, fed, xs)
    before = spread(cores)
    net = Net(cores)
    net.run(40.0)
    assert spread(cores) < before * 1e-3, f"{algorithm}: spread {before:.3g} -> {spread(cores):.3g}"
    for c in cores.values():
        assert c.counters.rejected == 0, (algorithm, c.counters.rejections)
        assert c.counters.exchanges > 10
        assert c.counters.rounds >= 30


def test_mean_preserving_algorithms_converge_to_the_mean():
    fed = federation(5)
    xs = {i: vector(seed=k) for k, i in enumerate(fed.ids)}
    ws = {i: float(k + 1) for k, i in enumerate(fed.ids)}
    mean = sum(xs[i].astype(np.float64) for i in fed.ids) / len(fed.ids)
    weighted = sum(ws[i] * xs[i].astype(np.float64) for i in fed.ids) / sum(ws.values())
    for algorithm, target in (("dpsgd", mean), ("push-sum", weighted)):
        cores = build(algorithm, fed, xs, ws)
        Net(cores).run(40.0)
        for c in cores.values():
            np.testing.assert_allclose(c.model(), target, atol=1e-5, err_msg=algorithm)


# --- gossip-age ------------------------------------------------------------------------------------------


def test_gossip_age_merges_by_model_age_and_keeps_the_older_age():
    fed = federation(2)
    xs = {"n0": vector(seed=1), "n1": vector(seed=2)}
    cores = build("gossip-age", fed, xs, neighbours={"n0": ["n1"], "n1": ["n0"]}, ages={"n0": 30, "n1": 10})
    n0, n1 = cores["n0"], cores["n1"]
    (hb,) = n1.start(0.0)
    n0.start(0.0)
    n0.on_message(0.01, hb.frames)  # n0 hears n1 is alive
    (push,) = [a for a in n0.on_timer(1.0) if kind_and_recipient(a.frames) == (Kind.MODEL, "n1")]
    actions = n1.on_message(2.0, push.frames)
    expected = (30 * xs["n0"].astype(np.float64) + 10 * xs["n1"]) / 40
    np.testing.assert_allclose(n1.params, expected, rtol=1e-6)
    assert n1.age == 30 and n1.counters.exchanges == 1
    # no reply: only an immediate acknowledgement, and n0's model is untouched
    assert [kind_and_recipient(a.frames)[0] for a in actions] == [Kind.HEARTBEAT]
    np.testing.assert_array_equal(n0.params, xs["n0"])
    n0.on_message(2.01, actions[0].frames)
    assert n0._peers["n1"].out.ref is not None, "the ack makes the next model a delta"


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 2**31 - 1))
def test_age_merge_is_the_age_weighted_convex_combination(a, b, seed):
    x, y = vector(seed=seed % 1000), vector(seed=seed % 1000 + 1)
    out, age = age_merge(x, a, y, b)
    assert age == max(a, b)
    wx = 0.5 if a + b == 0 else a / (a + b)
    np.testing.assert_allclose(out, wx * x.astype(np.float64) + (1 - wx) * y, rtol=1e-5, atol=1e-6)
    if a == 0 < b:
        np.testing.assert_array_equal(out, y)  # a fresh model is replaced, not diluted


def test_training_moves_gossip_age_and_counts_steps():
    fed = federation(3)
    xs = {i: np.zeros(fed.manifest.size, "<f4") for i in fed.ids}
    cfg = CoreConfig(**{**CFG.__dict__, "local_steps": 2})
    cores = build("gossip-age", fed, xs, cfg=cfg)
    net = Net(cores, train=lambda p: p + 1.0)
    net.run(10.5)
    for c in cores.values():
        assert c.age >= 16 and c.counters.train_steps == 2 * c.counters.rounds
        assert c.model().min() > 5.0


# --- D-PSGD ----------------------------------------------------------------------------------------------------


def _adjacency(n: int, edges: list[tuple[int, int]]) -> dict[int, set[int]]:
    adj: dict[int, set[int]] = {i: set() for i in range(n)}
    for u, v in ((a % n, b % n) for a, b in edges):
        if u != v:
            adj[u].add(v)
            adj[v].add(u)
    return adj


@given(st.integers(1, 14), st.lists(st.tuples(st.integers(0, 13), st.integers(0, 13)), max_size=60))
def test_metropolis_hastings_is_symmetric_doubly_stochastic_and_non_negative(n, edges):
    adj = _adjacency(n, edges)
    W = mh_matrix(adj, order=list(range(n)))
    assert (W >= 0).all()
    np.testing.assert_allclose(W, W.T, atol=0)
    np.testing.assert_allclose(W.sum(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    for u in range(n):
        for v in range(n):
            if u != v and v not in adj[u]:
                assert W[u, v] == 0
            elif u != v:
                assert W[u, v] == mh_weight(len(adj[u]), len(adj[v]))


def test_metropolis_hastings_accepts_graphs_and_refuses_directed_adjacency():
    g = nx.path_graph(3)
    w = metropolis_hastings(g)
    assert w[0] == pytest.approx({1: 1 / 3, 0: 2 / 3}) and w[1] == pytest.approx({0: 1 / 3, 2: 1 / 3, 1: 1 / 3})
    with pytest.raises(ValueError, match="undirected"):
        metropolis_hastings({"a": ["b"], "b": []})
    with pytest.raises(ValueError, match="not a node"):
        metropolis_hastings({"a": ["z"]})


def _dpsgd_star() -> tuple[Federation, dict[str, ProtocolCore]]:
    """n0 in the middle of n1, n2, n3 (degree 3); leaves have degree 1."""
    fed = federation(4)
    nbrs = {"n0": ["n1", "n2", "n3"], "n1": ["n0"], "n2": ["n0"], "n3": ["n0"]}
    xs = {i: vector(seed=k) for k, i in enumerate(fed.ids)}
    return fed, build("dpsgd", fed, xs, neighbours=nbrs)


def test_dpsgd_renormalises_missing_neighbours_into_the_self_weight():
    _, cores = _dpsgd_star()
    net = Net(cores)
    net.down.add("n3")  # never heard: n0 averages over n1 and n2 only
    net.run(1.2)  # round 1 started at t=1.0, its models are in n0's inbox
    n0 = cores["n0"]
    x0 = n0.params.astype(np.float64)
    got = n0.inbox[1]
    assert set(got) == {"n1", "n2"} and all(d == 1.0 for _, d in got.values())  # leaves report degree 1
    w_self, w = n0.mixing_weights({j: d for j, (_, d) in got.items()})
    assert w == {"n1": 0.25, "n2": 0.25} and w_self == 0.5  # n3's 1/4 folded into n0's own weight
    expected = 0.5 * x0 + 0.25 * (got["n1"][0].astype(np.float64) + got["n2"][0])
    leaf = 0.75 * cores["n1"].params.astype(np.float64) + 0.25 * x0  # a leaf: w = 1/(1+max(1,3)), self 3/4
    net.run(1.6)  # deadline of round 1 at t=1.5
    np.testing.assert_allclose(n0.params, expected, rtol=1e-6)
    np.testing.assert_allclose(cores["n1"].params, leaf, rtol=1e-6)
    assert n0.counters.exchanges == 2 and n0.counters.rounds == 1


def test_dpsgd_ignores_models_of_another_round_and_counts_them():
    fed, cores = _dpsgd_star()
    n0, n1 = cores["n0"], cores["n1"]
    net = Net(cores)
    net.run(2.6)  # rounds 1 and 2 are done
    assert n0.round == 3
    before = n0.params.copy()
    old = forge(fed, signer="n1", recipient="n0", kind=Kind.MODEL, seq=10_000, fields=Fields(weight=1.0, round=2))
    (ack,) = n0.on_message(2.7, old)
    assert kind_and_recipient(ack.frames) == (Kind.HEARTBEAT, "n1")  # acknowledged, then ignored
    far = forge(fed, signer="n1", recipient="n0", kind=Kind.MODEL, seq=10_001, fields=Fields(weight=1.0, round=9))
    n0.on_message(2.7, far)
    stranger = forge(fed, signer="n2", recipient="n1", kind=Kind.MODEL, seq=10_002, fields=Fields(weight=1.0, round=3))
    n1.on_message(2.7, stranger)  # n2 is no neighbour of n1
    assert n0.counters.rejections["stale_round"] == 1 and n0.counters.rejections["future_round"] == 1
    assert n1.counters.rejections["not_neighbour"] == 1
    assert 2 not in n0.inbox and 9 not in n0.inbox and 3 not in n1.inbox
    np.testing.assert_array_equal(n0.params, before)
    # a model of the current round arriving after its deadline (before the timer fired) is stale too
    net.run(3.0)
    late = forge(fed, signer="n1", recipient="n0", kind=Kind.MODEL, seq=10_003, fields=Fields(weight=1.0, round=3))
    n0.on_message(3.55, late)
    assert n0.counters.rejections["stale_round"] == 2 and "n1" not in n0.inbox.get(3, {})


def test_dpsgd_does_not_stall_on_a_dead_neighbour():
    fed = federation(5)
    xs = {i: vector(seed=k) for k, i in enumerate(fed.ids)}
    cores = build("dpsgd", fed, xs)
    net = Net(cores)
    net.run(5.0)
    rounds = {i: c.counters.rounds for i, c in cores.items()}
    net.down.add("n2")
    net.run(45.0)
    for i in ("n0", "n1", "n3", "n4"):
        assert cores[i].counters.rounds == rounds[i] + 40, f"{i} stalled"
    # n2's neighbours waited for it only until peer_timeout declared it down
    assert cores["n1"].counters.timeouts <= 3 and cores["n3"].counters.timeouts <= 3
    live = {i: c for i, c in cores.items() if i != "n2"}
    assert spread(live) < 1e-3


def test_round_training_that_misses_the_deadline_is_kept_but_not_sent():
    fed = federation(2)
    cfg = CoreConfig(**{**CFG.__dict__, "local_steps": 3})
    cores = build(
        "dpsgd",
        fed,
        {i: np.zeros(fed.manifest.size, "<f4") for i in fed.ids},
        cfg=cfg,
        neighbours={"n0": ["n1"], "n1": ["n0"]},
    )
    n0 = cores["n0"]
    n0.start(0.0)
    n0.liveness.heard("n1", 0.5)
    (train,) = [a for a in n0.on_timer(1.0) if isinstance(a, Train)]
    n0.on_timer(1.5)  # deadline while training: averaged with the untrained model, round 2 next
    assert n0.round == 2 and n0.training
    out = n0.on_trained(1.6, train.params, train.params + 1.0, TrainStats(3, 0, 0.0))
    assert out == [] and n0.age == 3
    np.testing.assert_allclose(n0.params, 1.0)  # the update is kept
    actions = n0.on_timer(2.0)  # round 2: trains again, sends after training
    assert any(isinstance(a, Train) for a in actions)


def test_rounds_missed_while_asleep_are_skipped_not_replayed():
    fed = federation(2)
    cores = build(
        "dpsgd", fed, {i: vector(seed=k) for k, i in enumerate(fed.ids)}, neighbours={"n0": ["n1"], "n1": ["n0"]}
    )
    n0 = cores["n0"]
    n0.start(0.0)
    n0.on_timer(1.0)
    n0.on_timer(1.5)
    assert n0.round == 2 and n0.counters.rounds == 1
    idle = n0.counters.idle_rounds
    n0.on_timer(7.7)  # asleep through rounds 2..6; round 7's deadline (7.5) has passed too
    assert n0.round == 8 and n0.counters.idle_rounds == idle + 6 and n0.counters.rounds == 1
    assert n0.next_deadline() == 8.0


# --- Epidemic Learning ------------------------------------------------------------------------------------------


def test_epidemic_sends_to_exactly_s_distinct_members_beyond_the_topology():
    fed = federation(8)
    xs = {i: vector(seed=k) for k, i in enumerate(fed.ids)}
    cores = build("epidemic", fed, xs, options=AlgorithmOptions(round_deadline=0.5, epidemic_s=3))
    net = Net(cores)
    net.run(20.4)
    per_round: dict[tuple[str, int], list[str]] = {}
    for t, src, dst in net.models():
        per_round.setdefault((src, int(t)), []).append(dst)
    assert len(per_round) == 8 * 20
    targets = set()
    for (src, _), dsts in per_round.items():
        assert len(dsts) == 3 and len(set(dsts)) == 3 and src not in dsts
        targets.update((src, d) for d in dsts)
    ring = {(i, j) for i, js in ring_neighbours(fed.ids).items() for j in js}
    assert targets - ring, "targets are drawn from the whole roster, not the ring"
    for c in cores.values():
        assert c.counters.pushes == 60 and c.counters.rejected == 0


def test_epidemic_caps_s_at_the_number_of_other_members_and_averages_uniformly():
    fed = federation(3)
    xs = {i: vector(seed=k) for k, i in enumerate(fed.ids)}
    cores = build("epidemic", fed, xs, options=AlgorithmOptions(round_deadline=0.5, epidemic_s=10))
    net = Net(cores)
    net.run(1.6)  # one round: everyone sent to both others, everyone averaged all three
    mean = sum(xs[i].astype(np.float64) for i in fed.ids) / 3
    for c in cores.values():
        assert c.counters.pushes == 2
        np.testing.assert_allclose(c.params, mean, rtol=1e-5, atol=1e-6)


# --- local-only -----------------------------------------------------------------------------------------------


def test_local_trains_and_never_sends_anything():
    fed = federation(3)
    cfg = CoreConfig(**{**CFG.__dict__, "local_steps": 4})
    xs = {i: vector(seed=k) for k, i in enumerate(fed.ids)}
    cores = build("local", fed, xs, cfg=cfg)
    net = Net(cores, train=lambda p: p * 0.5)
    net.run(20.0)
    assert net.log == []
    for i, c in cores.items():
        assert c.counters.msgs_out == 0 and c.counters.rounds >= 15
        assert c.counters.train_steps == 4 * c.counters.rounds and c.age == c.counters.train_steps
        np.testing.assert_allclose(c.params, xs[i] * 0.5**c.counters.rounds, atol=1e-6)
        assert c.alive_neighbours(net.now) == []


# --- push-sum ----------------------------------------------------------------------------------------------------


def _totals(cores: dict[str, PushSumCore]) -> tuple[np.ndarray, float]:
    """Total mass: held by the nodes plus in flight on every link (sent sums minus applied sums)."""
    s = sum(c.mass()[0] for c in cores.values())
    w = sum(c.mass()[1] for c in cores.values())
    for i, c in cores.items():
        for j, (ss, sw) in c.sent_sums().items():
            gs, gw = cores[j].applied_sums().get(i, (np.zeros_like(ss), 0.0))
            s = s + (ss - gs)
            w += sw - gw
    return s, w


def test_push_sum_conserves_mass_under_loss_and_churn_then_converges():
    fed = federation(7)
    ids = fed.ids
    # directed: each node pushes to the next and the one three ahead (strongly connected)
    nbrs = {i: [ids[(k + 1) % 7], ids[(k + 3) % 7]] for k, i in enumerate(ids)}
    xs = {i: vector(seed=k) * 10 + 100 for k, i in enumerate(ids)}
    ws = {i: float(50 + 37 * k) for k, i in enumerate(ids)}
    target = sum(ws[i] * xs[i].astype(np.float64) for i in ids) / sum(ws.values())
    cores = build("push-sum", fed, xs, ws, neighbours=nbrs)
    s0, w0 = _totals(cores)
    net = Net(cores, loss=0.3, seed=1, latency=0.05)
    rng = random.Random(7)
    for step in range(30):
        net.run(net.now + 1.0)
        net.down = set(rng.sample(ids, rng.randrange(3)))  # 0-2 nodes offline, state kept
        s, w = _totals(cores)
        assert abs(w - w0) <= 1e-12 * w0, step
        np.testing.assert_allclose(s, s0, rtol=1e-12, err_msg=f"step {step}")
    lost = sum(1 for t, src, dst in net.models()) - sum(c.counters.exchanges for c in cores.values())
    assert lost > 20, "the test must actually lose messages"
    pushes = sum(c.counters.pushes for c in cores.values())
    assert sum(c.counters.keyframes_out for c in cores.values()) < pushes / 2, "deltas once references are acked"
    net.down, net.loss = set(), 0.0
    net.run(net.now + 40.0)
    for c in cores.values():
        np.testing.assert_allclose(c.model(), target, rtol=1e-6)
        assert c.counters.rejections.get("mass_reset", 0) == 0


def test_push_sum_float32_wire_loses_no_mass_on_large_running_sums():
    """Values far from float32-exact: the rounding residual must stay in the running sums."""
    fed = federation(3)
    xs = {i: (vector(seed=k) * 1e3 + 1e5 / 3).astype("<f4") for k, i in enumerate(fed.ids)}
    ws = {"n0": 1234.5678, "n1": 1.0 / 3.0, "n2": 77.7}
    cores = build("push-sum", fed, xs, ws)
    s0, w0 = _totals(cores)
    net = Net(cores, latency=0.3)
    net.run(200.0)
    net.drain()
    s, w = _totals(cores)
    assert abs(w - w0) <= 1e-12 * w0
    np.testing.assert_allclose(s, s0, rtol=1e-13)
    target = s0 / w0
    scale = max(np.abs(c.mass()[0]).max() for c in cores.values())
    for i, c in cores.items():
        np.testing.assert_allclose(c.model(), target, rtol=1e-6)
        for j, (sent_s, sent_w) in c.sent_sums().items():
            got_s, got_w = cores[j].applied_sums()[i]
            # both ends hold the same float64 reference, so only the last message's float32
            # rounding is still "in flight" on a quiescent link; it never accumulates
            out = c._peers[j].out
            np.testing.assert_array_equal(out.ref, cores[j]._peers[i].inc.refs[out.ref_seq])
            assert got_w == sent_w
            assert np.abs(sent_s - got_s).max() <= 2.0**-23 * scale


def test_push_sum_training_moves_the_estimate_by_the_update():
    fed = federation(2)
    cfg = CoreConfig(**{**CFG.__dict__, "local_steps": 1})
    cores = build(
        "push-sum", fed, {i: np.zeros(fed.manifest.size, "<f4") for i in fed.ids}, {"n0": 3.0, "n1": 1.0}, cfg=cfg
    )
    c = cores["n0"]
    c.start(0.0)
    (train,) = [a for a in c.on_timer(5.0) if isinstance(a, Train)]
    c.s = c.s + c.w * 2.0  # mass arrived while training: estimate moved to 2
    c.on_trained(5.1, train.params, train.params + 0.5, TrainStats(1, 8, 0.1))
    np.testing.assert_allclose(c.model(), 2.5)
    assert c.mass()[1] == 3.0 and c.age == 1  # no live neighbour yet: nothing pushed


def test_push_sum_ignores_reordered_sums_and_resyncs_a_lost_reference_by_keyframe():
    fed = federation(2)
    cores = build(
        "push-sum", fed, {i: vector(seed=k) for k, i in enumerate(fed.ids)}, neighbours={"n0": ["n1"], "n1": ["n0"]}
    )
    n0, n1 = cores["n0"], cores["n1"]
    s_total, w_total = _totals(cores)
    for a in n1.start(0.0):
        n0.on_message(0.0, a.frames)
    n0.start(0.0)
    (m1,) = n0._after_training(0.1)
    (m2,) = n0._after_training(0.2)
    (ack,) = n1.on_message(0.3, m2.frames)  # m2's running sums include m1's half: nothing is lost
    n0.on_message(0.35, ack.frames)
    assert n0._peers["n1"].out.ref is not None
    s1 = n1.mass()[0]
    n1.on_message(0.4, m1.frames)  # reordered: older running sums, must not be applied
    assert n1.counters.rejections["stale_message"] == 1
    np.testing.assert_array_equal(n1.mass()[0], s1)
    n1._peers["n0"].inc.refs = {}  # n1 loses n0's references (the running sums applied are kept)
    (m3,) = n0._after_training(0.5)  # a delta n1 cannot rebuild
    (nack,) = n1.on_message(0.6, m3.frames)
    assert n1.counters.rejections["missing_reference"] == 1
    n0.on_message(0.7, nack.frames)  # ack 0: the next message is a keyframe of the full sums
    keyframes = n0.counters.keyframes_out
    (m4,) = n0._after_training(0.8)
    assert n0.counters.keyframes_out == keyframes + 1
    n1.on_message(0.9, m4.frames)
    # everything n0 ever sent has arrived: only float32 rounding of the keyframe is still in flight
    s_nodes = n0.mass()[0] + n1.mass()[0]
    w_nodes = n0.mass()[1] + n1.mass()[1]
    assert w_nodes == pytest.approx(w_total, rel=1e-15)
    np.testing.assert_allclose(s_nodes, s_total, rtol=1e-6)
    np.testing.assert_allclose(_totals(cores)[0], s_total, rtol=1e-13)


# --- robustness, shared by all ----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS[1:])
def test_hostile_input_never_raises_and_leaves_the_model_unchanged(algorithm):
    fed = federation(3)
    cores = build(algorithm, fed, {i: vector(seed=k) for k, i in enumerate(fed.ids)})
    c = cores["n1"]
    c.start(0.0)
    before = c.model().copy()
    inputs = [
        [],
        [b""],
        [b"x"] * 3,
        forge(fed, signer="n2", sender="n0", kind=Kind.MODEL, fields=Fields(weight=1.0)),
        forge(fed, kind=Kind.MODEL, payload=np.full(fed.manifest.size, np.nan, "<f4"), seq=10**15 + 1),
        forge(fed, recipient="n2", kind=Kind.MODEL, seq=10**15 + 2),
        forge(fed, kind=Kind.MODEL, fields=Fields(base=77, weight=1.0), seq=10**15 + 3),  # unknown reference
        forge(fed, kind=Kind.PUSH, fields=Fields(weight=1.0), seq=10**15 + 4),  # another algorithm's message
    ]
    for frames in inputs:
        c.on_message(1.0, frames)
    np.testing.assert_array_equal(c.model(), before)
    assert c.counters.rejected == len(inputs), c.counters.rejections
    assert c.counters.exchanges == 0


def test_push_pull_gossip_rejects_one_way_models():
    fed = federation(2)
    core = build("gossip", fed, {"n0": vector(seed=1), "n1": vector(seed=2)})["n1"]
    before = core.params.copy()
    assert core.on_message(1.0, forge(fed, kind=Kind.MODEL, fields=Fields(weight=1.0))) == []
    assert core.counters.rejections["wrong_algorithm"] == 1
    np.testing.assert_array_equal(core.params, before)
