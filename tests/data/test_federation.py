"""Tests of whole-federation loading: every node as load_local gives it, for every partition scheme."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from p2pfed.config import DataConfig, PartitionConfig, SyntheticConfig
from p2pfed.data import data_info, load_federation, load_heldout, load_local, node_configs, synthetic
from p2pfed.errors import DataError
from p2pfed.types import LocalData

SYN = DataConfig()


def _people_npz(tmp_path: Path, subjects: tuple[int, ...] = (4, 1, 9, 7), rows: int = 60) -> Path:
    """Four people with different baselines and label mixes, rows interleaved as in a real file."""
    rng = np.random.default_rng(3)
    subject = np.tile(subjects, rows)
    y = (rng.integers(0, 3, len(subject)) + subject) % 4
    X = (rng.normal(size=(len(subject), 5)) + subject[:, None] + y[:, None]).astype(np.float32)
    p = tmp_path / "people.npz"
    np.savez(p, X=X, y=y, subject=subject, label_names=np.array(["a", "b", "c", "d"]))
    return p


def _same_node(a: LocalData, b: LocalData) -> None:
    for x, y in ((a.train, b.train), (a.test, b.test)):
        np.testing.assert_array_equal(x.X, y.X)
        np.testing.assert_array_equal(x.y, y.y)
    assert a.meta == b.meta and a.n_classes == b.n_classes and a.label_names == b.label_names


def _each_node_as_load_local_gives_it(cfg: DataConfig, n: int | None = None) -> list[LocalData]:
    nodes = load_federation(cfg, n)
    configs = node_configs(cfg, n)
    assert len(nodes) == len(configs)
    for node, node_cfg in zip(nodes, configs):
        _same_node(node, load_local(node_cfg))
    return nodes


def _rows(d: LocalData) -> set[bytes]:
    return {r.tobytes() for r in np.concatenate([d.train.X, d.test.X])}


# ---- person ------------------------------------------------------------------------------------


def test_synthetic_node_i_gets_user_i() -> None:
    nodes = _each_node_as_load_local_gives_it(SYN, 6)
    assert [n.meta["users"] for n in nodes] == [[i] for i in range(6)]
    assert [n.meta["group"] for n in nodes] == [synthetic.archetype_of(SYN.synthetic, 0, i) for i in range(6)]
    assert {n.meta["group"] for n in nodes} == set(synthetic.ARCHETYPES)
    _same_node(nodes[2], load_local(dataclasses.replace(SYN, users=(2,))))
    pooled = dataclasses.replace(SYN, partition=PartitionConfig(pool=(7, 3)))
    assert [n.meta["users"] for n in load_federation(pooled)] == [[7], [3]]
    with pytest.raises(DataError, match="how many synthetic nodes"):
        load_federation(SYN)


def test_npz_one_node_per_subject(tmp_path: Path) -> None:
    cfg = DataConfig(source="npz", path=str(_people_npz(tmp_path)))
    nodes = _each_node_as_load_local_gives_it(cfg)
    assert [n.meta["subjects"] for n in nodes] == [[1], [4], [7], [9]]
    assert [n.meta["group"] for n in nodes] == ["subject 1", "subject 4", "subject 7", "subject 9"]
    assert [len(n.train) + len(n.test) for n in nodes] == [60] * 4
    assert [n.meta["subjects"] for n in load_federation(cfg, 2)] == [[1], [4]]
    with pytest.raises(DataError, match="5 nodes asked for, but there are only 4 people"):
        load_federation(cfg, 5)


def test_uci_hapt_tiny_federation(uci_hapt: Path) -> None:
    cfg = DataConfig(source="npz", path=str(uci_hapt / "tiny.npz"))
    nodes = _each_node_as_load_local_gives_it(cfg, 3)
    assert [n.meta["subjects"] for n in nodes] == [[1], [2], [3]]
    assert all(n.n_classes == 6 and n.input_shape == (174,) for n in nodes)


# ---- devices -----------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["time", "shuffle"])
def test_one_person_across_devices(tmp_path: Path, order: str) -> None:
    part = PartitionConfig(scheme="devices", devices=3, order=order, seed=2)
    cfg = DataConfig(source="npz", path=str(_people_npz(tmp_path)), partition=part)
    nodes = _each_node_as_load_local_gives_it(cfg)
    assert len(nodes) == 12
    assert [n.meta["device"] for n in nodes[:3]] == [0, 1, 2] and nodes[3].meta["subjects"] == [4]
    person = load_local(dataclasses.replace(cfg, users=(1,), standardize="none", partition=PartitionConfig()))
    devices = load_federation(dataclasses.replace(cfg, standardize="none"), 3)
    assert sum(len(d.train) + len(d.test) for d in devices) == 60
    assert set().union(*map(_rows, devices)) == _rows(person)  # the person's rows, each on one device
    for d in nodes:  # standardized by the device's own train rows
        np.testing.assert_allclose(d.train.X.mean(axis=0), 0.0, atol=1e-5)
    with pytest.raises(DataError, match="cannot be 3 devices"):
        load_federation(cfg, 4)


def test_synthetic_devices_and_their_config() -> None:
    cfg = dataclasses.replace(SYN, partition=PartitionConfig(scheme="devices", devices=2))
    nodes = _each_node_as_load_local_gives_it(cfg, 4)
    assert [(n.meta["users"], n.meta["device"]) for n in nodes] == [([0], 0), ([0], 1), ([1], 0), ([1], 1)]
    assert nodes[0].meta["group"] == nodes[1].meta["group"] == synthetic.archetype_of(cfg.synthetic, 0, 0)
    with pytest.raises(DataError, match="exactly one person"):
        load_local(dataclasses.replace(cfg, users=(0, 1)))
    with pytest.raises(DataError, match=r"index = 2 is not a device of 0..1"):
        load_local(dataclasses.replace(cfg, partition=dataclasses.replace(cfg.partition, index=2)))


# ---- pooled partitions ---------------------------------------------------------------------------


def test_dirichlet_nodes(tmp_path: Path) -> None:
    part = PartitionConfig(scheme="dirichlet", nodes=6, alpha=0.1, min_rows=5, seed=1)
    cfg = DataConfig(source="npz", path=str(_people_npz(tmp_path)), partition=part)
    nodes = _each_node_as_load_local_gives_it(cfg)
    assert len(nodes) == 6 and [n.meta["node"] for n in nodes] == list(range(6))
    assert sum(len(n.train) + len(n.test) for n in nodes) == 240
    raw = load_federation(dataclasses.replace(cfg, standardize="none"))
    assert not set.intersection(*map(_rows, raw[:2]))  # disjoint rows
    for n in nodes:
        y = np.concatenate([n.train.y, n.test.y])
        top = int(np.argmax(np.bincount(y)))
        assert n.meta["group"] == f"mostly {'abcd'[top]}"
        assert np.sort(np.bincount(y))[-2:].sum() / len(y) >= 0.9  # alpha = 0.1: one or two labels
        np.testing.assert_allclose(n.train.X.mean(axis=0), 0.0, atol=1e-5)  # the node's own statistics
        assert set(n.meta["subjects"]) <= {1, 4, 7, 9}
    # n_nodes overrides partition.nodes; node configs carry the count
    assert len(load_federation(cfg, 4)) == 4 and node_configs(cfg, 4)[3].partition.nodes == 4
    unsized = dataclasses.replace(cfg, partition=dataclasses.replace(part, nodes=0))
    with pytest.raises(DataError, match="how many nodes share the pool"):
        load_federation(unsized)
    _each_node_as_load_local_gives_it(unsized, 5)  # the simulator passes the count
    assert data_info(unsized).n_classes == 4 and load_heldout(unsized) is None  # need no node count


def test_synthetic_pool_and_quantity_skew() -> None:
    part = PartitionConfig(scheme="quantity", nodes=6, sigma=1.5, min_rows=5)
    cfg = dataclasses.replace(SYN, partition=part)
    nodes = _each_node_as_load_local_gives_it(cfg)
    sizes = [len(n.train) + len(n.test) for n in nodes]
    users = synthetic.generate_users(cfg.synthetic, 0, range(6))  # default pool: users 0..nodes-1
    assert sum(sizes) == sum(u.days for u in users) and min(sizes) >= 5
    groups = [n.meta["group"] for n in nodes]
    assert sorted(groups) == ["large", "large", "medium", "medium", "small", "small"]
    assert groups[int(np.argmax(sizes))] == "large" and groups[int(np.argmin(sizes))] == "small"
    assert node_configs(cfg)[0].partition.pool == tuple(range(6))


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (PartitionConfig(scheme="iid"), "data.partition.scheme must be one of"),
        (PartitionConfig(scheme="dirichlet"), "data.partition.nodes must be >= 1"),
        (PartitionConfig(scheme="dirichlet", nodes=3, index=3), r"index = 3 is not a node of 0..2"),
        (PartitionConfig(scheme="dirichlet", nodes=3, alpha=0.0), "alpha must be a number > 0"),
        (PartitionConfig(scheme="quantity", nodes=3, sigma=-1.0), "sigma must be a number in"),
        (PartitionConfig(scheme="quantity", nodes=3, pool=(1, 1)), r"pool lists user\(s\) 1 more than once"),
        (PartitionConfig(scheme="devices", devices=0), "devices must be an integer >= 1"),
        (PartitionConfig(scheme="devices", order="random"), "data.partition.order"),
        (PartitionConfig(min_rows=-1), "min_rows must be a non-negative integer"),
    ],
)
def test_partition_config_mistakes(part: PartitionConfig, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_local(dataclasses.replace(SYN, partition=part))


def test_npz_pool_must_exist(tmp_path: Path) -> None:
    part = PartitionConfig(scheme="dirichlet", nodes=2, pool=(1, 5))
    cfg = DataConfig(source="npz", path=str(_people_npz(tmp_path)), partition=part)
    with pytest.raises(DataError, match=r"subject\(s\) 5 \(available subjects: 1, 4, 7, 9\)"):
        load_local(cfg)


# ---- held-out groups and the archetype-skew pitfall -------------------------------------------------


def test_heldout_groups(tmp_path: Path) -> None:
    held = load_heldout(dataclasses.replace(SYN, eval_users=6))
    users = synthetic.heldout_users(SYN.synthetic, 0, 6)
    assert held is not None and held.groups is not None
    assert held.groups.tolist() == [u.archetype for u in users for _ in range(u.days)]
    path = _people_npz(tmp_path)
    npz_held = load_heldout(DataConfig(source="npz", path=str(path), users=(1,), eval_path=str(path)))
    assert npz_held is not None and npz_held.groups is not None
    assert npz_held.groups[:4].tolist() == ["subject 4", "subject 1", "subject 9", "subject 7"]


def _softmax_fit(X: np.ndarray, y: np.ndarray, c: int, steps: int = 300) -> np.ndarray:
    Xb, Y, W = np.hstack([X, np.ones((len(X), 1))]), np.eye(c)[y], np.zeros((X.shape[1] + 1, c))
    for _ in range(steps):
        Z = Xb @ W
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        W -= 0.5 * Xb.T @ (P / P.sum(axis=1, keepdims=True) - Y) / len(X)
    return W


def test_archetype_skew_reproduces_the_majority_pitfall() -> None:
    """80 % runners: a model of the runners alone fails the minority archetypes; everyone's data does not."""
    mix = SyntheticConfig(archetype_mix=(0.8, 0.04, 0.04, 0.04, 0.04, 0.04))
    cfg = DataConfig(eval_users=30, synthetic=mix)
    nodes = load_federation(cfg, 30)
    runners = [n for n in nodes if n.meta["group"] == "runner"]
    assert 22 <= len(runners) <= 26
    held = load_heldout(cfg)
    assert held is not None and held.groups is not None
    assert set(held.groups.tolist()) == set(synthetic.ARCHETYPES)  # held-out users stay equally mixed

    def fit(ns: list[LocalData]) -> np.ndarray:
        X, y = np.concatenate([n.train.X for n in ns]), np.concatenate([n.train.y for n in ns])
        return _softmax_fit(X, y, 4)

    def accuracy(W: np.ndarray, group: str) -> float:
        k = held.groups == group
        Xb = np.hstack([held.X[k], np.ones((int(k.sum()), 1))])
        return float(((Xb @ W).argmax(axis=1) == held.y[k]).mean())

    majority, everyone = fit(runners), fit(nodes)
    assert abs(accuracy(majority, "runner") - accuracy(everyone, "runner")) < 0.05
    for minority in ("older_adult", "shift_worker"):
        assert accuracy(everyone, minority) - accuracy(majority, minority) > 0.2
