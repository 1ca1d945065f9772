"""Tests of p2pfed.learning.torch_learner.TorchLearner: flat-vector training, evaluation and optimiser state."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import blobs

import p2pfed.learning.torch_learner as learner_mod
from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError, DataError
from p2pfed.learning.torch_learner import TorchLearner
from p2pfed.learning.models import build_model
from p2pfed.learning.base import Learner
from p2pfed.types import PARAM_DTYPE, LocalData, Split

REPO = Path(__file__).resolve().parents[2]
CFG = ModelConfig(hidden=(16,), lr=0.1, batch_size=16, init_seed=0, train_seed=0)


# ---------------------------------------------------------------------------------------------
# Initial parameters and output arrays
# ---------------------------------------------------------------------------------------------


def test_is_a_learner(data: LocalData) -> None:
    assert isinstance(TorchLearner(CFG, data), Learner)


def test_initial_params_same_for_every_node(data: LocalData) -> None:
    a = TorchLearner(CFG, data, seed=1).initial_params()
    b = TorchLearner(replace(CFG, train_seed=9, lr=0.5), blobs(n=50, seed=3), seed=2).initial_params()
    c = TorchLearner(replace(CFG, init_seed=1), data).initial_params()
    assert a.dtype == PARAM_DTYPE and a.flags.c_contiguous and a.shape == (24 * 16 + 16 + 16 * 4 + 4,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


#: SHA-256 of the initial vector of ModelConfig() on 24 features and 4 classes. It pins the
#: federation-wide initialisation across processes, machines and library versions: if it has
#: to change on purpose, bump p2pfed.learning.models.ARCH_VERSION so old and new nodes reject each other.
DEFAULT_INIT_SHA256 = "54e539efe98cce13763304f548aba6bf6f15a05f29c6350d24442ddb2632598e"


def _init_digest(cfg: ModelConfig) -> str:
    X, y = np.zeros((3, 24), np.float32), np.zeros(3, np.int64)
    p = TorchLearner(cfg, LocalData(Split(X, y), Split(X, y), 4), seed=5).initial_params()
    return hashlib.sha256(p.tobytes()).hexdigest()


def test_initial_params_pinned_across_machines_and_versions() -> None:
    assert _init_digest(ModelConfig()) == DEFAULT_INIT_SHA256


@pytest.mark.slow
def test_initial_params_same_in_another_process() -> None:
    code = (
        "import hashlib, numpy as np\n"
        "from p2pfed.config import ModelConfig\n"
        "from p2pfed.learning.torch_learner import TorchLearner\n"
        "from p2pfed.types import LocalData, Split\n"
        "X, y = np.zeros((3, 24), np.float32), np.zeros(3, np.int64)\n"
        "cfg = ModelConfig(hidden=(16,), init_seed=3)\n"
        "p = TorchLearner(cfg, LocalData(Split(X, y), Split(X, y), 4), seed=9).initial_params()\n"
        "print(hashlib.sha256(p.tobytes()).hexdigest())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == _init_digest(ModelConfig(hidden=(16,), init_seed=3))


def test_returned_arrays_are_fresh(data: LocalData) -> None:
    lrn = TorchLearner(CFG, data)
    p0 = lrn.initial_params()
    p0[:] = 7.0  # mutating a returned vector changes nothing inside
    assert not np.array_equal(lrn.initial_params(), p0)
    p = lrn.initial_params()
    p.setflags(write=False)  # e.g. a vector decoded straight from a network buffer
    before = p.copy()
    new, stats = lrn.train(p, 5)
    np.testing.assert_array_equal(p, before)
    assert not np.shares_memory(new, p)
    assert new.dtype == PARAM_DTYPE and new.flags.c_contiguous and new.flags.writeable
    again, _ = lrn.train(new, 5)
    assert not np.shares_memory(again, new) and not np.array_equal(again, new)
    assert stats.steps == 5 and stats.samples == 5 * CFG.batch_size and math.isfinite(stats.loss)


def test_zero_steps_returns_an_equal_copy(data: LocalData) -> None:
    lrn = TorchLearner(CFG, data)
    p = lrn.initial_params()
    q, stats = lrn.train(p, 0)
    np.testing.assert_array_equal(p, q)
    assert not np.shares_memory(p, q)
    assert stats.steps == 0 and stats.samples == 0 and math.isnan(stats.loss)
    assert lrn.samples_drawn == 0


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def test_training_learns_a_separable_problem(data: LocalData) -> None:
    lrn = TorchLearner(CFG, data)
    p = lrn.initial_params()
    before = lrn.evaluate(p, data.test)
    losses = []
    for _ in range(6):
        p, stats = lrn.train(p, 25)
        losses.append(stats.loss)
    after = lrn.evaluate(p, data.test)
    assert losses[-1] < losses[0] / 3
    assert after.loss < before.loss / 5
    assert after.accuracy >= 0.97 and after.n == len(data.test)


def test_same_seeds_same_result_other_seeds_differ(data: LocalData) -> None:
    def run(cfg: ModelConfig, seed: int) -> np.ndarray:
        lrn = TorchLearner(cfg, data, seed=seed)
        p, _ = lrn.train(lrn.initial_params(), 30)
        p, _ = lrn.train(p, 30)
        return p

    a = run(CFG, seed=4)
    np.testing.assert_array_equal(a, run(CFG, seed=4))
    assert not np.array_equal(a, run(CFG, seed=5))
    assert not np.array_equal(a, run(replace(CFG, train_seed=1), seed=4))


def test_matches_torch_sgd_update_with_momentum_and_weight_decay() -> None:
    """Full-batch steps (batch >= n) make the result independent of sampling order."""
    d = blobs(n=40, seed=1)
    cfg = replace(CFG, batch_size=64, lr=0.05, momentum=0.9, weight_decay=0.01)
    lrn = TorchLearner(cfg, d)
    ours, stats = lrn.train(lrn.initial_params(), 20)
    assert stats.samples == 20 * 40

    # torch.optim.SGD's documented update (dampening 0, first buffer = first gradient), written
    # out with autograd so the test does not pay torch.optim's slow first construction
    model = build_model(cfg, d.input_shape, d.n_classes)
    params = list(model.parameters())
    bufs: list[torch.Tensor | None] = [None] * len(params)
    X, y = torch.from_numpy(d.train.X), torch.from_numpy(d.train.y)
    for _ in range(20):
        grads = torch.autograd.grad(torch.nn.functional.cross_entropy(model(X), y), params)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                g = g + cfg.weight_decay * p
                bufs[i] = g.clone() if bufs[i] is None else bufs[i].mul(cfg.momentum).add(g)
                p.sub_(cfg.lr * bufs[i])
    ref = torch.cat([p.detach().reshape(-1) for p in params]).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_epochs_visit_every_sample_once(data: LocalData) -> None:
    lrn = TorchLearner(replace(CFG, batch_size=30), blobs(n=90))
    batches = [lrn._next_batch().copy() for _ in range(6)]  # two epochs of 90 samples
    for epoch in (batches[:3], batches[3:]):
        assert sorted(np.concatenate(epoch).tolist()) == list(range(90))
    assert not np.array_equal(np.concatenate(batches[:3]), np.concatenate(batches[3:]))
    assert lrn.samples_drawn == 180


def test_batch_larger_than_data_and_no_data(data: LocalData) -> None:
    small = blobs(n=5)
    lrn = TorchLearner(replace(CFG, batch_size=32), small)
    _, stats = lrn.train(lrn.initial_params(), 3)
    assert stats.samples == 15
    empty = LocalData(Split(np.zeros((0, 24), np.float32), np.zeros(0, np.int64)), data.test, 4)
    lrn = TorchLearner(CFG, empty)
    p = lrn.initial_params()
    q, stats = lrn.train(p, 10)
    np.testing.assert_array_equal(p, q)
    assert stats.steps == 0 and lrn.n_train == 0


def test_training_leaves_global_torch_rng_alone(data: LocalData) -> None:
    torch.manual_seed(1)
    expected = torch.rand(2)
    torch.manual_seed(1)
    lrn = TorchLearner(CFG, data)
    lrn.train(lrn.initial_params(), 5)
    assert torch.equal(torch.rand(2), expected)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def numpy_eval(W1, b1, W2, b2, X, y):  # type: ignore[no-untyped-def]
    h = np.maximum(X @ W1.T + b1, 0) if W1 is not None else X
    z = (h @ W2.T + b2).astype(np.float64)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    return float(np.mean(lse - z[np.arange(len(y)), y])), float(np.mean(z.argmax(1) == y))


def test_evaluate_by_hand_logistic_regression() -> None:
    X = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    y = np.array([0, 1, 1])
    d = LocalData(Split(X, y), Split(X, y), 2)
    lrn = TorchLearner(replace(CFG, hidden=()), d)
    # W = [[1, 0], [0, 2]], b = [0.5, 0]: logits [1.5, 0], [0.5, 2], [1.5, 2] -> preds 0, 1, 1
    params = np.array([1, 0, 0, 2, 0.5, 0], np.float32)
    stats = lrn.evaluate(params, d.test)
    by_hand = np.mean([math.log(1 + math.exp(-1.5)), math.log(1 + math.exp(-1.5)), math.log(1 + math.exp(-0.5))])
    assert stats.n == 3 and stats.accuracy == 1.0
    assert stats.loss == pytest.approx(by_hand, rel=1e-6)


def test_evaluate_matches_numpy_mlp_and_batching(data: LocalData, monkeypatch: pytest.MonkeyPatch) -> None:
    lrn = TorchLearner(CFG, data)
    p, _ = lrn.train(lrn.initial_params(), 10)
    W1, b1 = p[:384].reshape(16, 24), p[384:400]
    W2, b2 = p[400:464].reshape(4, 16), p[464:]
    loss, acc = numpy_eval(W1, b1, W2, b2, data.test.X, data.test.y)
    stats = lrn.evaluate(p, data.test)
    assert stats.loss == pytest.approx(loss, rel=1e-5) and stats.accuracy == pytest.approx(acc)
    monkeypatch.setattr(learner_mod, "EVAL_BATCH", 7)
    small = lrn.evaluate(p, data.test)
    assert small.loss == pytest.approx(stats.loss, rel=1e-5) and small.accuracy == stats.accuracy


def test_evaluate_empty_split(data: LocalData) -> None:
    lrn = TorchLearner(CFG, data)
    stats = lrn.evaluate(lrn.initial_params(), Split(np.zeros((0, 24), np.float32), np.zeros(0, np.int64)))
    assert math.isnan(stats.loss) and math.isnan(stats.accuracy) and stats.n == 0


def test_evaluate_accepts_other_dtypes_and_rejects_bad_data(data: LocalData) -> None:
    lrn = TorchLearner(CFG, data)
    p = lrn.initial_params()
    ref = lrn.evaluate(p, data.test)
    as64 = Split(data.test.X.astype(np.float64), data.test.y.astype(np.int32))
    assert lrn.evaluate(p, as64).loss == pytest.approx(ref.loss, rel=1e-6)
    with pytest.raises(DataError, match=r"samples have shape \(23,\), the model expects \(24,\)"):
        lrn.evaluate(p, Split(data.test.X[:, :23], data.test.y))
    with pytest.raises(DataError, match=r"labels must be in 0..3, got 0..4"):
        lrn.evaluate(p, Split(data.test.X[:2], np.array([0, 4])))
    with pytest.raises(DataError, match="X has shape"):
        lrn.evaluate(p, Split(data.test.X[:3], data.test.y[:2]))
    with pytest.raises(DataError, match="labels must be integers"):
        lrn.evaluate(p, Split(data.test.X[:2], np.array([0.0, 1.0])))


def test_bad_training_labels_rejected_at_construction() -> None:
    d = blobs(n=10)
    bad = LocalData(Split(d.train.X, d.train.y + 4), d.test, 4)
    with pytest.raises(DataError, match="train data: labels must be in 0..3"):
        TorchLearner(CFG, bad)


# ---------------------------------------------------------------------------------------------
# Validation of inputs and config
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p[:-1], r"has shape \(467,\); model mlp/v1\(.*\) needs a flat vector of 468"),
        (lambda p: np.concatenate([p, p]), "needs a flat vector of 468"),
        (lambda p: p.reshape(4, 117), r"has shape \(4, 117\)"),
        (lambda p: p.astype(np.float64), "dtype float32"),
        (lambda p: p.astype(">f4"), "dtype float32"),
        (lambda p: p.tolist(), "must be a numpy array, got list"),
    ],
)
def test_wrong_params_rejected(data: LocalData, make, fragment: str) -> None:  # type: ignore[no-untyped-def]
    lrn = TorchLearner(CFG, data)
    bad = make(lrn.initial_params())
    with pytest.raises(ValueError, match=fragment):
        lrn.train(bad, 1)
    with pytest.raises(ValueError, match=fragment):
        lrn.evaluate(bad, data.test)


@pytest.mark.parametrize("steps", [-1, 1.5, True])
def test_bad_steps(data: LocalData, steps: object) -> None:
    lrn = TorchLearner(CFG, data)
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        lrn.train(lrn.initial_params(), steps)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cfg", "threads", "fragment"),
    [
        (replace(CFG, lr=0.0), None, "model.lr must be a positive"),
        (replace(CFG, lr=math.inf), None, "model.lr must be a positive"),
        (replace(CFG, momentum=1.0), None, r"model.momentum must be in \[0, 1\)"),
        (replace(CFG, weight_decay=-0.1), None, "model.weight_decay must be >= 0"),
        (replace(CFG, batch_size=0), None, "model.batch_size must be a positive"),
        (replace(CFG, kind="rnn"), None, "known kinds: mlp"),
        (CFG, 0, "threads must be a positive integer"),
    ],
)
def test_bad_config(data: LocalData, cfg: ModelConfig, threads: int | None, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        TorchLearner(cfg, data, threads=threads)


def test_manifest_follows_hidden_sizes(data: LocalData) -> None:
    a = TorchLearner(CFG, data).manifest
    b = TorchLearner(replace(CFG, hidden=(32,)), data).manifest
    c = TorchLearner(replace(CFG, lr=0.3, init_seed=4), data).manifest
    assert a.size == 468 and b.size == 24 * 32 + 32 + 32 * 4 + 4
    assert a.schema != b.schema and a.schema == c.schema
    assert a.arch == "mlp/v1(in=24;hidden=[16];act=relu;out=4)"


# ---------------------------------------------------------------------------------------------
# Optimiser state
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Prediction and the shared batch stream
# ---------------------------------------------------------------------------------------------


def test_predict_is_the_argmax_of_the_logits_and_batches(data: LocalData, monkeypatch: pytest.MonkeyPatch) -> None:
    lrn = TorchLearner(CFG, data)
    p, _ = lrn.train(lrn.initial_params(), 10)
    W1, b1 = p[:384].reshape(16, 24), p[384:400]
    W2, b2 = p[400:464].reshape(4, 16), p[464:]
    logits = np.maximum(data.test.X @ W1.T + b1, 0) @ W2.T + b2
    pred = lrn.predict(p, data.test.X)
    assert pred.dtype == np.int64 and pred.shape == (len(data.test),)
    np.testing.assert_array_equal(pred, logits.argmax(1))
    assert np.mean(pred == data.test.y) == pytest.approx(lrn.evaluate(p, data.test).accuracy)
    monkeypatch.setattr(learner_mod, "EVAL_BATCH", 7)
    np.testing.assert_array_equal(lrn.predict(p, data.test.X), pred)
    np.testing.assert_array_equal(lrn.predict(p, data.test.X.astype(np.float64)), pred)


def test_predict_empty_and_bad_inputs(data: LocalData) -> None:
    lrn = TorchLearner(CFG, data)
    p = lrn.initial_params()
    empty = lrn.predict(p, np.zeros((0, 24), np.float32))
    assert empty.shape == (0,) and empty.dtype == np.int64
    with pytest.raises(DataError, match=r"samples have shape \(23,\), the model expects \(24,\)"):
        lrn.predict(p, data.test.X[:, :23])
    with pytest.raises(DataError, match="features must be numbers"):
        lrn.predict(p, np.array([["a"] * 24]))
    with pytest.raises(ValueError, match="dtype float32"):
        lrn.predict(p.astype(np.float64), data.test.X)


def test_training_draws_the_batch_stream_of_p2pfed_batches(data: LocalData) -> None:
    from p2pfed.learning.batches import BatchStream

    cfg = replace(CFG, batch_size=48, train_seed=7)
    lrn = TorchLearner(cfg, data, seed=-3)
    stream = BatchStream(len(data.train), 48, 7, -3)
    lrn.samples_drawn = stream.samples_drawn = 350  # straddles an epoch boundary
    for _ in range(5):
        np.testing.assert_array_equal(lrn._next_batch(), stream.next_batch())
    assert lrn.samples_drawn == stream.samples_drawn == 350 + 5 * 48
