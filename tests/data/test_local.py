"""Tests of a node's local data: per-person splits, per-person standardization, held-out people."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfed.config import DataConfig, build
from p2pfed.data import data_info, load_heldout, load_local, synthetic
from p2pfed.data.split import n_test_rows, split_person
from p2pfed.data.standardize import person_stats, resolve_mode, standardize_all
from p2pfed.errors import DataError

HAPT = Path(__file__).resolve().parents[3] / "shared/data/uci_hapt"
SYN = DataConfig(users=(0,))
PERSON = dataclasses.replace(SYN, standardize="person")


# ---- splitting -------------------------------------------------------------------------------


def test_split_small_people() -> None:
    tr, te = split_person(np.array([2]), 0.25, 0, 1)
    assert tr.tolist() == [0] and te.size == 0
    tr, te = split_person(np.array([0, 0]), 0.25, 0, 1)
    assert len(tr) == 1 and len(te) == 1


def test_split_is_stratified_and_reproducible() -> None:
    y = np.repeat([0, 1, 2, 3], [40, 20, 8, 1])
    tr, te = split_person(y, 0.25, 3, 7)
    assert np.bincount(y[te], minlength=4).tolist()[:3] == [10, 5, 2]
    again = split_person(y, 0.25, 3, 7)
    assert np.array_equal(te, again[1])
    other = split_person(y, 0.25, 4, 7)[1]
    assert not np.array_equal(te, other)
    assert not np.array_equal(te, split_person(y, 0.25, 3, 8)[1])


@settings(max_examples=60, deadline=None)
@given(
    y=st.lists(st.integers(0, 5), min_size=1, max_size=80),
    fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 1000),
    person=st.integers(-50, 50),
)
def test_split_properties(y: list[int], fraction: float, seed: int, person: int) -> None:
    labels = np.array(y)
    tr, te = split_person(labels, fraction, seed, person)
    assert len(tr) >= 1
    assert len(te) == n_test_rows(len(y), fraction)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(len(y)))
    quota = len(te) / len(y)
    for c in np.unique(labels):
        n_c, t_c = int((labels == c).sum()), int((labels[te] == c).sum())
        assert np.floor(n_c * quota) <= t_c <= np.ceil(n_c * quota)


# ---- synthetic nodes -------------------------------------------------------------------------


def test_load_local_synthetic() -> None:
    d = load_local(dataclasses.replace(SYN, users=(0, 3)))
    users = synthetic.generate_users(SYN.synthetic, 0, [0, 3])
    assert d.meta["users"] == [0, 3]
    assert d.meta["archetypes"] == [u.archetype for u in users]
    assert d.meta["standardize"] == "none"
    assert d.meta["rows"] == [u.days for u in users]
    assert len(d.train) + len(d.test) == sum(u.days for u in users)
    assert 0.2 < len(d.test) / (len(d.train) + len(d.test)) < 0.3
    assert d.n_classes == 4 and d.input_shape == (synthetic.N_FEATURES,)
    assert d.feature_names == synthetic.FEATURE_NAMES and d.label_names[3] == "vigorous"
    assert d.train.X.dtype == np.float32 and d.train.y.dtype == np.int64
    # with "none", the rows are exactly the generator's (split, not transformed)
    all_rows = np.concatenate([u.X for u in users])
    assert {r.tobytes() for r in d.train.X} <= {r.tobytes() for r in all_rows}


def test_every_node_agrees_on_classes_and_shapes() -> None:
    a = load_local(dataclasses.replace(SYN, users=(3,)))
    b = load_local(dataclasses.replace(SYN, users=(5, 11)))
    info = data_info(SYN)
    assert a.n_classes == b.n_classes == info.n_classes
    assert a.input_shape == b.input_shape == info.input_shape


def test_a_person_is_the_same_whatever_else_the_node_holds() -> None:
    for cfg in (SYN, PERSON):
        alone = load_local(dataclasses.replace(cfg, users=(4,)))
        mixed = load_local(dataclasses.replace(cfg, users=(1, 4, 9)))
        n1 = mixed.meta["rows"][0] - n_test_rows(mixed.meta["rows"][0], cfg.test_fraction)
        mine = slice(n1, n1 + len(alone.train))
        np.testing.assert_array_equal(mixed.train.X[mine], alone.train.X)
        np.testing.assert_array_equal(mixed.train.y[mine], alone.train.y)


def test_person_standardization_uses_only_the_persons_train_rows() -> None:
    raw = load_local(SYN)
    std = load_local(PERSON)
    assert std.meta["standardize"] == "person"
    mean, sd = person_stats(raw.train.X)
    np.testing.assert_allclose(std.train.X, (raw.train.X - mean) / sd, atol=1e-5)
    np.testing.assert_allclose(std.test.X, (raw.test.X - mean) / sd, atol=1e-5)
    varying = raw.train.X.astype(np.float64).std(axis=0) > 1e-6
    np.testing.assert_allclose(std.train.X[:, varying].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(std.train.X[:, varying].std(axis=0), 1.0, atol=1e-4)
    # constant features (age, weight) are centred, not divided by ~0
    assert (~varying).any() and np.all(std.train.X[:, ~varying] == 0.0)
    assert np.isfinite(std.test.X).all()


def test_held_out_synthetic_users() -> None:
    held = load_heldout(dataclasses.replace(SYN, eval_users=3))
    users = synthetic.heldout_users(SYN.synthetic, 0, 3)
    assert held is not None and len(held) == sum(u.days for u in users)
    np.testing.assert_array_equal(held.X, np.concatenate([u.X for u in users]))
    assert load_heldout(dataclasses.replace(SYN, eval_users=0)) is None
    person = load_heldout(dataclasses.replace(PERSON, eval_users=3))
    first = person.X[: users[0].days]
    np.testing.assert_allclose(first, standardize_all(users[0].X, "person"), atol=1e-6)
    assert abs(first[:, 5].mean()) < 1e-5 and abs(first[:, 5].std() - 1) < 1e-4


def test_auto_standardization() -> None:
    assert resolve_mode("auto", "synthetic") == "none"
    assert resolve_mode("auto", "npz") == "person"
    assert resolve_mode("none", "npz") == "none"
    with pytest.raises(DataError, match="data.standardize must be one of"):
        resolve_mode("global", "npz")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"source": "csv"}, "data.source"),
        ({"standardize": "z"}, "data.standardize"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"split_seed": -1}, "split_seed"),
        ({"seed": -1}, "data.seed"),
        ({"users": ()}, "data.users is empty"),
        ({"users": (1, 2, 1)}, r"user\(s\) 1 more than once"),
        ({"users": (-2,)}, "non-negative"),
        ({"eval_users": -1}, "eval_users"),
        ({"source": "npz"}, "data.path is empty"),
    ],
)
def test_config_mistakes(change: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_local(dataclasses.replace(SYN, **change))


# ---- npz nodes -------------------------------------------------------------------------------


def _people_npz(
    tmp_path: Path, name: str = "p.npz", subjects: tuple[int, ...] = (1, 2, 3), d: int = 4
) -> Path:
    rng = np.random.default_rng(1)
    subject = np.repeat(subjects, 20)
    offset = subject[:, None] * 10.0  # each person has a very different baseline
    X = (rng.normal(size=(len(subject), d)) * subject[:, None] + offset).astype(np.float32)
    y = np.tile(np.arange(20) % 3, len(subjects))
    p = tmp_path / name
    np.savez(p, X=X, y=y, subject=subject)
    return p


def test_load_local_npz_standardizes_each_person_alone(tmp_path: Path) -> None:
    path = _people_npz(tmp_path)
    cfg = DataConfig(source="npz", path=str(path), users=(2, 3))
    d = load_local(cfg)
    assert d.meta == {
        "source": "npz",
        "path": str(path),
        "partition": "person",
        "subjects": [2, 3],
        "group": "subject 2+subject 3",
        "rows": [20, 20],
        "standardize": "person",
    }
    assert d.n_classes == 3 and d.input_shape == (4,)
    n_train = 20 - n_test_rows(20, cfg.test_fraction)
    for part in (d.train.X[:n_train], d.train.X[n_train:]):
        np.testing.assert_allclose(part.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(part.std(axis=0), 1.0, atol=1e-4)
    alone = load_local(dataclasses.replace(cfg, users=(3,)))
    np.testing.assert_array_equal(alone.train.X, d.train.X[n_train:])
    assert np.bincount(d.test.y).tolist() == [4, 4, 2]  # 5 test rows per person, stratified


def test_relative_path_and_root(tmp_path: Path) -> None:
    _people_npz(tmp_path)
    cfg = DataConfig(source="npz", path="p.npz", users=(1,))
    assert len(load_local(cfg, root=tmp_path).train) == 15
    with pytest.raises(DataError, match="file not found"):
        load_local(cfg, root=tmp_path / "elsewhere")


def test_npz_subject_not_present(tmp_path: Path) -> None:
    cfg = DataConfig(source="npz", path=str(_people_npz(tmp_path)), users=(2, 8))
    with pytest.raises(DataError, match=r"subject\(s\) 8 \(available subjects: 1, 2, 3\)"):
        load_local(cfg)


def test_npz_held_out_people(tmp_path: Path) -> None:
    train = _people_npz(tmp_path, "train.npz", (1, 2, 3))
    test = _people_npz(tmp_path, "test.npz", (7, 8))
    cfg = DataConfig(source="npz", path=str(train), users=(1,), eval_path=str(test))
    held = load_heldout(cfg)
    assert held is not None and len(held) == 40
    np.testing.assert_allclose(held.X[:20].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(held.X[20:].std(axis=0), 1.0, atol=1e-4)
    assert load_heldout(dataclasses.replace(cfg, eval_path="")) is None
    wide = _people_npz(tmp_path, "wide.npz", (7,), d=5)
    with pytest.raises(DataError, match=r"shape \(5,\).*has \(4,\)"):
        load_heldout(dataclasses.replace(cfg, eval_path=str(wide)))
    more = tmp_path / "more.npz"
    np.savez(more, X=np.zeros((3, 4), np.float32), y=np.array([0, 1, 5]), subject=np.array([9, 9, 9]))
    with pytest.raises(DataError, match="6 classes, more than the 3"):
        load_heldout(dataclasses.replace(cfg, eval_path=str(more)))


def test_tiny_hapt_node() -> None:
    tiny = HAPT / "tiny.npz"
    if not tiny.is_file():
        pytest.skip(f"{tiny} is absent (the shared UCI HAPT data sits beside the checkout)")
    cfg = DataConfig(source="npz", path=str(tiny), users=(1, 3))
    d = load_local(cfg)
    assert d.n_classes == 6 and d.input_shape == (174,) and len(d.feature_names) == 174
    assert len(d.train) == 36 and len(d.test) == 12
    assert np.bincount(d.test.y).tolist() == [2] * 6  # stratified: 1 test row per class and person
    np.testing.assert_allclose(d.train.X[:18].mean(axis=0), 0.0, atol=1e-4)
    assert np.isfinite(d.train.X).all() and np.isfinite(d.test.X).all()


def test_partition_and_task_from_toml() -> None:
    doc = tomllib.loads(
        """
        source = "synthetic"
        [partition]
        scheme = "dirichlet"
        nodes = 4
        index = 2
        alpha = 0.1
        [synthetic]
        task = "risk"
        archetype_mix = [0.8, 0.04, 0.04, 0.04, 0.04, 0.04]
        """
    )
    cfg = build(DataConfig, doc, source="node.toml", path="data")
    assert cfg.partition.scheme == "dirichlet" and cfg.partition.nodes == 4 and cfg.partition.alpha == 0.1
    d = load_local(cfg)
    assert d.meta["partition"] == "dirichlet" and d.meta["node"] == 2 and d.meta["users"] == [0, 1, 2, 3]
    assert d.n_classes == 3 and d.label_names == ("low", "elevated", "high")
    assert str(d.meta["group"]).startswith("mostly ")
