"""Tests of p2pfed.learning.numpy_mlp: the numpy MLP learner agrees with TorchLearner, and train_many with train."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import blobs

import p2pfed.learning.numpy_mlp as nplearn_mod
from p2pfed.learning import models
from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError, DataError
from p2pfed.learning.torch_learner import TorchLearner
from p2pfed.learning.numpy_mlp import NumpyMLPLearner, mlp_arch, train_many
from p2pfed.learning.base import Learner
from p2pfed.types import PARAM_DTYPE, LocalData, Split

REPO = Path(__file__).resolve().parents[2]
CFG = ModelConfig(hidden=(16,), lr=0.1, batch_size=16, init_seed=0, train_seed=0)
#: The bound the issue sets for "same training as torch" after a handful of steps.
TOL = 1e-5


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0


# ---------------------------------------------------------------------------------------------
# Same model as TorchLearner: manifest, schema, initial vector
# ---------------------------------------------------------------------------------------------


def test_is_a_learner(data: LocalData) -> None:
    assert isinstance(NumpyMLPLearner(CFG, data), Learner)


def test_arch_version_follows_models() -> None:
    assert nplearn_mod.MLP_ARCH_VERSION == models.ARCH_VERSION


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hidden=st.lists(st.integers(1, 12), max_size=3).map(tuple),
    shape=st.sampled_from([(5,), (24,), (3, 4), (2, 3, 2)]),
    classes=st.integers(2, 7),
    init_seed=st.integers(-(2**65), 2**65),
)
def test_same_manifest_and_initial_vector_as_torch(
    hidden: tuple[int, ...], shape: tuple[int, ...], classes: int, init_seed: int
) -> None:
    X = np.zeros((3, *shape), np.float32)
    y = np.arange(3) % classes
    d = LocalData(Split(X, y), Split(X, y), classes)
    cfg = ModelConfig(hidden=hidden, init_seed=init_seed)
    ours, theirs = NumpyMLPLearner(cfg, d), TorchLearner(cfg, d)
    assert ours.manifest == theirs.manifest
    assert ours.manifest.schema == theirs.manifest.schema
    assert ours.manifest.arch == models.arch_string(cfg, shape, classes) == mlp_arch(hidden, shape, classes)
    a, b = ours.initial_params(), theirs.initial_params()
    assert a.dtype == PARAM_DTYPE and a.flags.c_contiguous and a.flags.writeable
    np.testing.assert_array_equal(a, b)


def test_initial_vector_pinned_like_torch_learner() -> None:
    """The digest tests/test_learner.py pins for TorchLearner (ModelConfig(), 24 features, 4 classes)."""
    X, y = np.zeros((3, 24), np.float32), np.zeros(3, np.int64)
    p = NumpyMLPLearner(ModelConfig(), LocalData(Split(X, y), Split(X, y), 4), seed=5).initial_params()
    assert (
        hashlib.sha256(p.tobytes()).hexdigest()
        == "54e539efe98cce13763304f548aba6bf6f15a05f29c6350d24442ddb2632598e"
    )


def test_module_does_not_import_torch() -> None:
    modules = "p2pfed.learning.numpy_mlp, p2pfed.learning.numpy_kernels, p2pfed.learning.checks, p2pfed.learning.batches"
    code = f"import sys, {modules}; assert 'torch' not in sys.modules, 'torch imported'"
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------------------------
# Same training, evaluation and prediction as TorchLearner
# ---------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hidden=st.lists(st.integers(1, 20), max_size=2).map(tuple),
    d=st.integers(1, 12),
    classes=st.integers(2, 5),
    n=st.integers(1, 60),
    batch_size=st.integers(1, 40),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    weight_decay=st.sampled_from([0.0, 1e-3, 0.05]),
    lr=st.sampled_from([0.01, 0.05, 0.1]),
    steps=st.integers(0, 12),
    seed=st.integers(0, 2**32),
)
def test_training_matches_torch_learner(
    hidden: tuple[int, ...],
    d: int,
    classes: int,
    n: int,
    batch_size: int,
    momentum: float,
    weight_decay: float,
    lr: float,
    steps: int,
    seed: int,
) -> None:
    data = blobs(n=n, d=d, classes=classes, seed=seed % 1000, spread=2.0)
    cfg = ModelConfig(
        hidden=hidden,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        batch_size=batch_size,
        init_seed=seed,
        train_seed=seed + 1,
    )
    ours, theirs = NumpyMLPLearner(cfg, data, seed=seed), TorchLearner(cfg, data, seed=seed)
    p = ours.initial_params()
    for _ in range(2):  # twice: the stream position and the momentum buffer carry over
        a, sa = ours.train(p, steps)
        b, sb = theirs.train(p, steps)
        assert max_diff(a, b) < TOL
        assert (sa.steps, sa.samples) == (sb.steps, sb.samples)
        assert (math.isnan(sa.loss) and math.isnan(sb.loss)) or sa.loss == pytest.approx(
            sb.loss, rel=1e-5, abs=1e-6
        )
        assert ours.samples_drawn == theirs.samples_drawn
        p = b
    mo, mt = ours.state_arrays(), theirs.state_arrays()
    assert mo.keys() == mt.keys()
    if mo:
        assert max_diff(mo["momentum"], mt["momentum"]) < TOL
    ea, eb = ours.evaluate(p, data.test), theirs.evaluate(p, data.test)
    assert ea.n == eb.n and ea.loss == pytest.approx(eb.loss, rel=1e-5, abs=1e-6)
    # predictions may only differ where two logits tie to float32 rounding
    pa, pb = ours.predict(p, data.test.X), theirs.predict(p, data.test.X)
    assert pa.dtype == np.int64 and np.mean(pa == pb) >= 0.98
    assert ea.accuracy == pytest.approx(np.mean(pa == data.test.y))


def test_long_training_stays_close_to_torch_and_learns(data: LocalData) -> None:
    cfg = replace(CFG, momentum=0.9, weight_decay=1e-3, lr=0.02)
    ours, theirs = NumpyMLPLearner(cfg, data, seed=3), TorchLearner(cfg, data, seed=3)
    p = q = ours.initial_params()
    for _ in range(6):
        p, _ = ours.train(p, 25)
        q, _ = theirs.train(q, 25)
    assert max_diff(p, q) < 1e-4  # 150 steps: rounding differences grow slowly
    stats = ours.evaluate(p, data.test)
    assert stats.accuracy >= 0.97 and stats.accuracy == theirs.evaluate(q, data.test).accuracy


def test_evaluate_and_predict_match_torch_on_multidimensional_samples() -> None:
    data = blobs(n=80, d=12, shape=(3, 4), seed=2)
    cfg = replace(CFG, hidden=(8, 5))
    ours, theirs = NumpyMLPLearner(cfg, data), TorchLearner(cfg, data)
    p, _ = theirs.train(theirs.initial_params(), 20)
    assert ours.evaluate(p, data.test).loss == pytest.approx(theirs.evaluate(p, data.test).loss, rel=1e-5)
    np.testing.assert_array_equal(ours.predict(p, data.test.X), theirs.predict(p, data.test.X))
    ours.samples_drawn = theirs.samples_drawn  # continue from the same stream position
    q, _ = ours.train(p, 7)
    r, _ = theirs.train(p, 7)
    assert max_diff(q, r) < TOL


def test_logistic_regression_by_hand() -> None:
    X = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    y = np.array([0, 1, 1])
    d = LocalData(Split(X, y), Split(X, y), 2)
    lrn = NumpyMLPLearner(replace(CFG, hidden=()), d)
    params = np.array([1, 0, 0, 2, 0.5, 0], np.float32)  # logits [1.5, 0], [0.5, 2], [1.5, 2]
    stats = lrn.evaluate(params, d.test)
    by_hand = np.mean(
        [math.log(1 + math.exp(-1.5)), math.log(1 + math.exp(-1.5)), math.log(1 + math.exp(-0.5))]
    )
    assert stats.n == 3 and stats.accuracy == 1.0 and stats.loss == pytest.approx(by_hand, rel=1e-6)
    np.testing.assert_array_equal(lrn.predict(params, X), [0, 1, 1])


def test_one_sgd_step_by_hand() -> None:
    """Full batch of 2 rows, logistic regression, lr 0.5: the gradient written out."""
    X = np.array([[1, 0], [0, 1]], np.float32)
    y = np.array([0, 1])
    d = LocalData(Split(X, y), Split(X, y), 2)
    lrn = NumpyMLPLearner(replace(CFG, hidden=(), lr=0.5, batch_size=2), d)
    zero = np.zeros(6, np.float32)  # W = 0, b = 0: softmax 1/2 everywhere
    new, stats = lrn.train(zero, 1)
    # dlogits = (softmax - onehot) / 2 = [[-1/4, 1/4], [1/4, -1/4]]; dW = dlogits.T @ X; db = sum
    dW = np.array([[-0.25, 0.25], [0.25, -0.25]], np.float32)
    np.testing.assert_allclose(new, np.concatenate([-0.5 * dW.reshape(-1), [0, 0]]), atol=1e-7)
    assert stats.loss == pytest.approx(math.log(2), rel=1e-6) and stats.samples == 2


# ---------------------------------------------------------------------------------------------
# train_many, evaluate_many, predict_many
# ---------------------------------------------------------------------------------------------


def fleet(cfgs: list[ModelConfig], sizes: list[int]) -> list[tuple[ModelConfig, LocalData, int]]:
    return [(c, blobs(n=n, seed=i, spread=2.0), i) for i, (c, n) in enumerate(zip(cfgs, sizes, strict=True))]


def test_train_many_equals_train_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    mom = replace(CFG, momentum=0.9, weight_decay=1e-3)
    other_lr = replace(CFG, lr=0.03)
    wide = replace(CFG, hidden=(8, 6))
    specs = fleet(
        [CFG, CFG, mom, mom, other_lr, CFG, CFG, wide, CFG, CFG, CFG],
        [40, 90, 30, 55, 60, 5, 0, 33, 70, 25, 64],
    )
    steps = [4, 4, 6, 6, 4, 3, 5, 4, 0, 4, 4]
    rng = np.random.default_rng(0)

    def run(batched: bool) -> tuple[list[np.ndarray], list[object], list[NumpyMLPLearner]]:
        learners = [NumpyMLPLearner(c, d, seed=s) for c, d, s in specs]
        starts = [
            lrn.initial_params() + rng.normal(0, 0.01, lrn.manifest.size).astype(np.float32)
            for lrn in learners
        ]
        outs, stats = [], []
        for _ in range(2):
            if batched:
                res = train_many(list(zip(learners, starts, steps, strict=True)))
            else:
                res = [lrn.train(p, k) for lrn, p, k in zip(learners, starts, steps, strict=True)]
            starts = [r[0] for r in res]
            outs, stats = starts, [r[1] for r in res]
        return outs, stats, learners

    rng = np.random.default_rng(0)
    single, s_stats, s_learners = run(False)
    monkeypatch.setattr(nplearn_mod, "TRAIN_CHUNK", 2)  # groups split into chunks too
    rng = np.random.default_rng(0)
    many, m_stats, m_learners = run(True)
    for a, b, sa, sb, la, lb in zip(single, many, s_stats, m_stats, s_learners, m_learners, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
        assert (sa.steps, sa.samples) == (sb.steps, sb.samples)  # type: ignore[attr-defined]
        assert la.samples_drawn == lb.samples_drawn
        if la.state_arrays():
            np.testing.assert_allclose(
                lb.state_arrays()["momentum"], la.state_arrays()["momentum"], rtol=1e-5, atol=1e-7
            )
    assert s_stats[6].steps == 0 and math.isnan(s_stats[6].loss)  # no data: nothing happens
    assert m_stats[8].steps == 0  # zero steps


def test_train_many_returns_fresh_vectors_and_leaves_inputs_alone(data: LocalData) -> None:
    lrns = [NumpyMLPLearner(CFG, data, seed=i) for i in range(3)]
    p = lrns[0].initial_params()
    p.setflags(write=False)
    res = train_many([(lrn, p, 3) for lrn in lrns])
    np.testing.assert_array_equal(p, lrns[0].initial_params())
    outs = [r[0] for r in res]
    assert all(o.dtype == PARAM_DTYPE and o.flags.writeable and o.flags.c_contiguous for o in outs)
    assert not any(np.shares_memory(a, b) for i, a in enumerate(outs + [p]) for b in (outs + [p])[i + 1 :])
    assert not np.array_equal(outs[0], outs[1])  # different seeds, different batches
    assert train_many([]) == []


def test_train_many_rejects_bad_jobs(data: LocalData) -> None:
    lrn = NumpyMLPLearner(CFG, data)
    p = lrn.initial_params()
    with pytest.raises(ValueError, match="appears more than once"):
        train_many([(lrn, p, 1), (lrn, p, 1)])
    with pytest.raises(TypeError, match="NumpyMLPLearner jobs, got TorchLearner"):
        train_many([(TorchLearner(CFG, data), p, 1)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="needs a flat vector of 468"):
        train_many([(lrn, p[:-1], 1)])
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        train_many([(lrn, p, -2)])
    assert lrn.samples_drawn == 0  # nothing was drawn before the errors


def test_evaluate_many_and_predict_many_equal_one_model_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    data = blobs(n=150, seed=4)
    cfg = replace(CFG, hidden=(10, 7))
    lrn = NumpyMLPLearner(cfg, data)
    rng = np.random.default_rng(1)
    P = np.stack(
        [lrn.initial_params() + rng.normal(0, 0.3, lrn.manifest.size).astype(np.float32) for _ in range(9)]
    )
    one = [lrn.evaluate(p, data.test) for p in P]
    preds = np.stack([lrn.predict(p, data.test.X) for p in P])
    monkeypatch.setattr(nplearn_mod, "EVAL_BATCH", 16)
    monkeypatch.setattr(nplearn_mod, "EVAL_CHUNK_VALUES", 300)  # blocks of 2 models x 16 rows
    many = lrn.evaluate_many(P, data.test)
    assert [s.n for s in many] == [s.n for s in one]
    for a, b in zip(one, many, strict=True):
        assert b.loss == pytest.approx(a.loss, rel=1e-5) and b.accuracy == a.accuracy
    np.testing.assert_array_equal(lrn.predict_many(P, data.test.X), preds)
    np.testing.assert_array_equal(lrn.predict_many(list(P), data.test.X), preds)
    assert lrn.predict_many(P[:0], data.test.X).shape == (0, len(data.test))
    empty = lrn.evaluate_many(P[:2], Split(data.test.X[:0], data.test.y[:0]))
    assert all(s.n == 0 and math.isnan(s.loss) and math.isnan(s.accuracy) for s in empty)
    with pytest.raises(ValueError, match=r"needs \(K, "):
        lrn.evaluate_many(P[:, :-1], data.test)
    with pytest.raises(ValueError, match="dtype float32"):
        lrn.predict_many(P.astype(np.float64), data.test.X)


# ---------------------------------------------------------------------------------------------
# Optimiser state, stream position, validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "fragment"),
    [
        (replace(CFG, kind="cnn1d"), "only runs model.kind 'mlp', got 'cnn1d'; use TorchLearner"),
        (replace(CFG, lr=0.0), "model.lr must be a positive"),
        (replace(CFG, momentum=1.0), r"model.momentum must be in \[0, 1\)"),
        (replace(CFG, weight_decay=-0.1), "model.weight_decay must be >= 0"),
        (replace(CFG, batch_size=0), "model.batch_size must be a positive"),
        (replace(CFG, hidden=(4, 0)), "model.hidden sizes must all be positive"),
    ],
)
def test_bad_config(data: LocalData, cfg: ModelConfig, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        NumpyMLPLearner(cfg, data)


def test_bad_data_and_params(data: LocalData) -> None:
    with pytest.raises(DataError, match="train data: labels must be in 0..3"):
        NumpyMLPLearner(CFG, LocalData(Split(data.train.X, data.train.y + 4), data.test, 4))
    with pytest.raises(ConfigError, match="at least 2 classes"):
        NumpyMLPLearner(CFG, LocalData(data.train, data.test, 1))
    lrn = NumpyMLPLearner(CFG, data)
    p = lrn.initial_params()
    with pytest.raises(DataError, match=r"samples have shape \(23,\), the model expects \(24,\)"):
        lrn.evaluate(p, Split(data.test.X[:, :23], data.test.y))
    with pytest.raises(DataError, match="labels must be integers"):
        lrn.evaluate(p, Split(data.test.X[:2], np.array([0.0, 1.0])))
    with pytest.raises(DataError, match="X has shape"):
        lrn.evaluate(p, Split(data.test.X[:3], data.test.y[:2]))
    with pytest.raises(DataError, match="features must be numbers"):
        lrn.predict(p, np.array([["a"] * 24]))
    for bad, fragment in [
        (p[:-1], "needs a flat vector of 468"),
        (p.astype(np.float64), "dtype float32"),
        (p.tolist(), "must be a numpy array, got list"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            lrn.train(bad, 1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=fragment):
            lrn.evaluate(bad, data.test)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        lrn.train(p, 1.5)  # type: ignore[arg-type]


def test_both_learners_reject_the_same_inputs_with_the_same_messages(data: LocalData) -> None:
    """The checks live once, in p2pfed.learning.base: numpy and torch nodes must fail alike."""
    cfg = replace(CFG, momentum=0.5)
    p = NumpyMLPLearner(cfg, data).initial_params()
    bad_calls = [
        lambda lrn: lrn.evaluate(p, Split(data.test.X[:, :23], data.test.y)),
        lambda lrn: lrn.evaluate(p, Split(data.test.X[:2], np.array([0.0, 1.0]))),
        lambda lrn: lrn.evaluate(p, Split(data.test.X[:3], data.test.y[:2])),
        lambda lrn: lrn.evaluate(p, Split(data.test.X[:2], np.array([0, 9]))),
        lambda lrn: lrn.predict(p, np.array([["a"] * 24])),
        lambda lrn: lrn.evaluate(p[:-1], data.test),
        lambda lrn: lrn.evaluate(p.astype(np.float64), data.test),
        lambda lrn: lrn.evaluate(p.tolist(), data.test),
        lambda lrn: lrn.load_state_arrays({"velocity": p}),
        lambda lrn: lrn.load_state_arrays({"momentum": p[:10]}),
        lambda lrn: lrn.load_state_arrays({"momentum": np.full_like(p, np.inf)}),
    ]
    for call in bad_calls:
        errors = []
        for lrn in (NumpyMLPLearner(cfg, data), TorchLearner(cfg, data)):
            with pytest.raises((ValueError, DataError)) as e:
                call(lrn)
            errors.append((type(e.value), str(e.value)))
        assert errors[0] == errors[1]
    for lrn in (NumpyMLPLearner(cfg, data), TorchLearner(cfg, data)):
        lrn.load_state_arrays({"momentum": np.ones_like(p)})
        np.testing.assert_array_equal(lrn.state_arrays()["momentum"], np.ones_like(p))
        lrn.load_state_arrays({})
        assert not lrn.state_arrays()["momentum"].any()
        assert lrn.n_train == len(data.train)


def test_zero_steps_and_no_data(data: LocalData) -> None:
    lrn = NumpyMLPLearner(CFG, data)
    p = lrn.initial_params()
    q, stats = lrn.train(p, 0)
    np.testing.assert_array_equal(p, q)
    assert not np.shares_memory(p, q) and stats.steps == 0 and math.isnan(stats.loss)
    empty = LocalData(Split(np.zeros((0, 24), np.float32), np.zeros(0, np.int64)), data.test, 4)
    lrn = NumpyMLPLearner(CFG, empty)
    q, stats = lrn.train(p, 10)
    np.testing.assert_array_equal(p, q)
    assert stats.steps == 0 and lrn.n_train == 0 and lrn.samples_drawn == 0


def test_both_learners_check_steps_and_log_skipped_training_alike(
    data: LocalData, caplog: pytest.LogCaptureFixture
) -> None:
    """The steps check and the no-data skip are LearnerBase's; each learner logs under its own module."""
    empty = LocalData(Split(np.zeros((0, 24), np.float32), np.zeros(0, np.int64)), data.test, 4)
    for cls in (NumpyMLPLearner, TorchLearner):
        lrn = cls(CFG, empty)
        p = lrn.initial_params()
        for bad in (-1, 1.5, True):
            with pytest.raises(ValueError, match=f"steps must be a non-negative integer, got {bad!r}"):
                lrn.train(p, bad)  # type: ignore[arg-type]
        caplog.clear()
        with caplog.at_level("DEBUG", logger=cls.__module__):
            q, stats = lrn.train(p, np.int64(3))  # type: ignore[arg-type]
        np.testing.assert_array_equal(p, q)
        assert stats.steps == 0 and stats.samples == 0 and math.isnan(stats.loss)
        assert [(r.name, r.getMessage()) for r in caplog.records] == [
            (cls.__module__, "no local training data: skipping 3 steps")
        ]


def test_divergence_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    d = blobs(n=40, spread=1e4, seed=1)
    lrn = NumpyMLPLearner(replace(CFG, lr=1e4), d)
    with np.errstate(all="ignore"), caplog.at_level("WARNING"):
        lrn.train(lrn.initial_params(), 30)
    assert "training diverged" in caplog.text and "smaller model.lr" in caplog.text


# ---------------------------------------------------------------------------------------------
# The benchmarks run (smoke tests: they never check a timing target)
# ---------------------------------------------------------------------------------------------


def run_json(args: list[str], timeout: int) -> dict:
    proc = subprocess.run(
        [sys.executable, *args], check=False, capture_output=True, text=True, cwd=REPO, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # exactly one JSON line
    return json.loads(lines[0])


def test_bench_learners_quick_runs() -> None:
    out = run_json(["benchmarks/bench_learners.py", "--quick", "--json"], timeout=120)
    rates = out["node_updates_per_s"]
    assert set(rates) == {
        "TorchLearner.train, one by one",
        "NumpyMLPLearner.train, one by one",
        "train_many, K=10",
        "train_many, K=100",
    }
    assert all(r["median"] > 0 for r in rates.values())
    assert rates["TorchLearner.train, one by one"]["vs_torch"] == 1.0


def test_bench_gossipy_p2pfed_side_runs() -> None:
    out = run_json(
        ["benchmarks/bench_gossipy.py", "--only", "p2pfed", "--nodes", "12", "--rounds", "2", "--rows", "40"],
        timeout=120,
    )
    p = out["p2pfed"]
    assert p["per_update"]["sgd_steps"] == 2  # gossipy's work: ceil(40 / 32) steps per epoch
    assert p["numpy_train_many"]["node_updates"] == 24 and p["numpy_train_many"]["node_updates_per_s"] > 0
    assert p["torch_one_by_one"]["node_updates"] == 24
    assert "gossipy" not in out


@pytest.mark.slow
def test_bench_gossipy_gossipy_side_runs() -> None:
    if not (REPO / ".venv-gossipy" / "bin" / "python").exists():
        pytest.skip("no .venv-gossipy: run `python3 benchmarks/bench_gossipy.py setup`")
    out = run_json(
        ["benchmarks/bench_gossipy.py", "--nodes", "20", "--rounds", "2", "--rows", "64"], timeout=600
    )
    g = out["gossipy"]
    assert "error" not in g, g
    assert g["node_updates"] == 40 and g["per_update"]["sgd_steps"] == 2 and g["node_updates_per_s"] > 0
    assert set(out["ratio_vs_gossipy"]) == {"numpy_train_many", "torch_one_by_one"}
