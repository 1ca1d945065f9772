"""Tests of p2pfed.learning.personal: shared body + local head, and local fine-tuning, over real learners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.learning.torch_learner import TorchLearner
from p2pfed.learning.numpy_mlp import NumpyMLPLearner
from p2pfed.learning.personal import (
    HEAD_STATE_KEY,
    PersonalLearner,
    layer_groups,
    personalize,
    split_manifest,
)
from p2pfed.node.state import NodeState, load_state, save_state
from p2pfed.learning.base import Learner
from p2pfed.types import PARAM_DTYPE, LocalData, Manifest, Split

CFG = ModelConfig(hidden=(16,), lr=0.1, batch_size=16, init_seed=0, train_seed=0)
D, C = 8, 4
CENTRES = np.random.default_rng(42).normal(size=(C, D)) * 1.1  # overlapping classes: priors matter


def skewed(node: int, alpha: float = 0.1, n: int = 160, seed: int = 0) -> LocalData:
    """One node's data: Gaussian classes with a Dirichlet(alpha) label mix (test rows alike)."""
    rng = np.random.default_rng([seed, node])
    prior = rng.dirichlet(np.full(C, alpha))
    y = rng.choice(C, size=2 * n, p=prior)
    X = (CENTRES[y] + rng.normal(size=(2 * n, D))).astype(np.float32)
    return LocalData(Split(X[:n], y[:n].astype(np.int64)), Split(X[n:], y[n:].astype(np.int64)), C)


LEARNERS: dict[str, Callable[[ModelConfig, LocalData, int], Learner]] = {
    "torch": lambda cfg, data, seed: TorchLearner(cfg, data, seed=seed),
    "numpy": lambda cfg, data, seed: NumpyMLPLearner(cfg, data, seed=seed),
}


# ---------------------------------------------------------------------------------------------
# Splitting the manifest
# ---------------------------------------------------------------------------------------------


def test_layer_groups_and_split() -> None:
    m = TorchLearner(replace(CFG, hidden=(16, 8)), skewed(0), seed=0).manifest
    assert layer_groups(m) == [("fc1", D * 16 + 16), ("fc2", 16 * 8 + 8), ("out", 8 * C + C)]
    body, head = split_manifest(m, 1)
    assert head == ("out",) and body.names == ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
    assert body.size == m.size - (8 * C + C)
    assert body.arch == m.arch + "+body(local=out)"
    body2, head2 = split_manifest(m, 2)
    assert head2 == ("fc2", "out") and body2.names == ("fc1.weight", "fc1.bias")
    assert len({m.schema, body.schema, body2.schema}) == 3  # never mixed up on the wire


def test_head_that_leaves_no_body_is_refused() -> None:
    m = TorchLearner(CFG, skewed(0), seed=0).manifest  # fc1, out
    with pytest.raises(ConfigError, match=r"head_layers = 2 leaves no shared body.*fc1, out"):
        split_manifest(m, 2)
    with pytest.raises(ConfigError, match="positive integer"):
        split_manifest(m, 0)
    manual = Manifest(names=("a.weight", "b.weight"), shapes=((2, 2), (3,)), arch="x")
    assert split_manifest(manual, 1)[0].names == ("a.weight",)


def test_factory_and_bad_modes() -> None:
    inner = TorchLearner(CFG, skewed(0), seed=0)
    assert personalize(inner, "none") is inner
    assert isinstance(personalize(inner, "head"), PersonalLearner)
    with pytest.raises(ConfigError, match="model.personalize must be one of 'none', 'head', 'finetune'"):
        personalize(inner, "body")
    with pytest.raises(ConfigError, match="'head' or 'finetune'"):
        PersonalLearner(inner, "none")
    with pytest.raises(ConfigError, match="finetune_steps"):
        PersonalLearner(inner, "finetune", finetune_steps=-1)


# ---------------------------------------------------------------------------------------------
# Mode "head"
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(LEARNERS))
def test_head_mode_is_a_learner_over_the_body(kind: str) -> None:
    inner = LEARNERS[kind](CFG, skewed(0), 0)
    p = PersonalLearner(inner, "head")
    assert isinstance(p, Learner)
    full = inner.initial_params()
    body = p.initial_params()
    assert p.manifest.size == body.size == full.size - (16 * C + C)
    np.testing.assert_array_equal(body, full[: body.size])
    np.testing.assert_array_equal(p.local_state(), full[body.size :])  # the federation-wide initial head
    new, stats = p.train(body, 20)
    assert new.dtype == PARAM_DTYPE and new.shape == body.shape and stats.steps == 20
    assert not np.array_equal(new, body)
    assert not np.array_equal(p.local_state(), full[body.size :])  # the head trained too, privately
    # evaluate/predict use this node's head: same as the inner learner on (body, head)
    joined = np.concatenate((new, p.local_state()))
    np.testing.assert_array_equal(p.predict(new, skewed(0).test.X), inner.predict(joined, skewed(0).test.X))
    assert p.evaluate(new, skewed(0).test) == inner.evaluate(joined, skewed(0).test)
    with pytest.raises(ValueError, match="flat vector"):
        p.evaluate(joined, skewed(0).test)  # a full model is not a body


def test_only_the_body_is_gossiped() -> None:
    """Two nodes average what their learners expose; their heads never meet and stay distinct."""
    learners = [PersonalLearner(TorchLearner(CFG, skewed(i), seed=i), "head") for i in range(2)]
    params = [lrn.initial_params() for lrn in learners]
    for _ in range(5):
        params = [lrn.train(x, 10)[0] for lrn, x in zip(learners, params)]
        avg = ((params[0] + params[1]) / 2).astype(PARAM_DTYPE)
        params = [avg.copy(), avg.copy()]
    heads = [lrn.local_state() for lrn in learners]
    assert params[0].size == learners[0].manifest.size < learners[0].inner.manifest.size
    assert not np.allclose(heads[0], heads[1])
    X = skewed(5).test.X
    assert not np.array_equal(learners[0].predict(params[0], X), learners[1].predict(params[0], X))


def _gossip(learners: list[Learner], rounds: int, steps: int) -> list[np.ndarray]:
    """All-to-all averaging after every round of local training (the ideal gossip limit)."""
    params = [lrn.initial_params() for lrn in learners]
    for _ in range(rounds):
        params = [lrn.train(x, steps)[0] for lrn, x in zip(learners, params)]
        avg = np.mean(params, axis=0).astype(PARAM_DTYPE)
        params = [avg.copy() for _ in learners]
    return params


def _local_acc(learners: list[Learner], params: list[np.ndarray], datas: list[LocalData]) -> np.ndarray:
    return np.array([lrn.evaluate(x, d.test).accuracy for lrn, x, d in zip(learners, params, datas)])


def test_head_personalisation_beats_the_shared_model_on_label_skew() -> None:
    """Tiny version of the acceptance scenario: Dirichlet(0.1) label skew over 12 nodes."""
    datas = [skewed(i) for i in range(12)]
    shared = [TorchLearner(CFG, d, seed=i) for i, d in enumerate(datas)]
    heads = [PersonalLearner(TorchLearner(CFG, d, seed=i), "head") for i, d in enumerate(datas)]
    acc_shared = _local_acc(shared, _gossip(shared, 30, 5), datas)  # type: ignore[arg-type]
    acc_head = _local_acc(heads, _gossip(heads, 30, 5), datas)  # type: ignore[arg-type]
    assert acc_head.mean() >= acc_shared.mean() + 0.05
    worst = max(1, len(datas) // 10)
    assert np.sort(acc_head)[:worst].mean() >= np.sort(acc_shared)[:worst].mean()


def test_head_survives_a_checkpoint_through_the_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = replace(CFG, momentum=0.9)
    a = PersonalLearner(TorchLearner(cfg, skewed(1), seed=1), "head")
    body, _ = a.train(a.initial_params(), 15)
    arrays = a.state_arrays()
    assert set(arrays) == {"momentum", HEAD_STATE_KEY}
    save_state(tmp_path, NodeState("n1", a.manifest.schema, body, optimizer=arrays))
    state = load_state(tmp_path, "n1", a.manifest.schema)
    assert state is not None
    b = PersonalLearner(TorchLearner(cfg, skewed(1), seed=1), "head")
    b.load_state_arrays(state.optimizer)
    np.testing.assert_array_equal(b.local_state(), a.local_state())
    X = skewed(1).test.X
    np.testing.assert_array_equal(b.predict(state.params, X), a.predict(body, X))
    # and training continues identically (head, momentum and batch stream all restored)
    b.samples_drawn = a.samples_drawn
    np.testing.assert_array_equal(a.train(body, 5)[0], b.train(state.params, 5)[0])


def test_load_local_state_checks_what_it_gets() -> None:
    p = PersonalLearner(TorchLearner(CFG, skewed(0), seed=0), "head")
    n = p.local_state().size
    with pytest.raises(ValueError, match="shape"):
        p.load_local_state(np.zeros(n + 1, PARAM_DTYPE))
    with pytest.raises(ValueError, match="float32"):
        p.load_local_state(np.zeros(n, np.float64))
    bad = np.zeros(n, PARAM_DTYPE)
    bad[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        p.load_local_state(bad)
    good = np.full(n, 0.5, PARAM_DTYPE)
    p.load_local_state(good)
    np.testing.assert_array_equal(p.local_state(), good)


# ---------------------------------------------------------------------------------------------
# Mode "finetune"
# ---------------------------------------------------------------------------------------------


def test_finetune_gossips_the_whole_model_and_is_deterministic() -> None:
    data = skewed(3)
    inner = TorchLearner(CFG, data, seed=3)
    p = PersonalLearner(inner, "finetune", finetune_steps=10)
    assert p.manifest == inner.manifest and p.local_state().size == 0
    x = p.initial_params()
    first = p.evaluate(x, data.test)
    p.train(x, 7)  # moves the batch stream
    assert p.evaluate(x, data.test) == first
    # a fresh learner agrees: the fine-tuning depends on the model and the data only
    other = PersonalLearner(TorchLearner(CFG, data, seed=3), "finetune", finetune_steps=10)
    assert other.evaluate(x, data.test) == first
    tuned = p.personal_params(x)
    assert not np.array_equal(tuned, x)
    np.testing.assert_array_equal(p.predict(x, data.test.X), inner.predict(tuned, data.test.X))
    # zero steps: the shared model itself
    plain = PersonalLearner(TorchLearner(CFG, data, seed=3), "finetune", finetune_steps=0)
    assert plain.evaluate(x, data.test) == inner.evaluate(x, data.test)


def test_finetune_evaluation_does_not_disturb_training() -> None:
    cfg = replace(CFG, momentum=0.9)
    data = skewed(4)
    a = PersonalLearner(TorchLearner(cfg, data, seed=4), "finetune", finetune_steps=12)
    b = TorchLearner(cfg, data, seed=4)
    xa = xb = a.initial_params()
    for i in range(4):
        xa, _ = a.train(xa, 6)
        xb, _ = b.train(xb, 6)
        a.evaluate(xa + np.float32(i), data.test)  # fine-tunes a copy of another model
        a.predict(xa, data.test.X)
    np.testing.assert_array_equal(xa, xb)
    assert a.samples_drawn == b.samples_drawn
    np.testing.assert_array_equal(a.state_arrays()["momentum"], b.state_arrays()["momentum"])


def test_finetune_improves_local_accuracy_on_label_skew() -> None:
    datas = [skewed(i, seed=1) for i in range(8)]
    learners = [PersonalLearner(TorchLearner(CFG, d, seed=i), "finetune", finetune_steps=20) for i, d in enumerate(datas)]
    params = _gossip(learners, 30, 5)  # type: ignore[arg-type]
    tuned = _local_acc(learners, params, datas)  # type: ignore[arg-type]
    shared = _local_acc([lrn.inner for lrn in learners], params, datas)
    assert tuned.mean() >= shared.mean() + 0.05


def test_finetune_needs_a_settable_batch_stream() -> None:
    class NoStream:
        """A learner without a batch-stream position (delegates everything else)."""

        def __init__(self, inner: TorchLearner) -> None:
            self._inner = inner
            self.manifest = inner.manifest
            self.initial_params = inner.initial_params
            self.train = inner.train
            self.evaluate = inner.evaluate
            self.predict = inner.predict

    inner = NoStream(TorchLearner(CFG, skewed(0), seed=0))
    with pytest.raises(ConfigError, match="samples_drawn"):
        PersonalLearner(inner, "finetune")  # type: ignore[arg-type]
    p = PersonalLearner(inner, "head")  # type: ignore[arg-type]  # head mode works on any learner
    assert p.state_arrays().keys() == {HEAD_STATE_KEY}
