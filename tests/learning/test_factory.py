"""Tests of p2pfed.learning.factory: the one place a learner is built, for every backend and personalisation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.learning.factory import BACKENDS, make_learner, numpy_backend
from p2pfed.learning.numpy_mlp import NumpyMLPLearner
from p2pfed.learning.personal import PersonalLearner
from p2pfed.learning.torch_learner import TorchLearner
from p2pfed.types import LocalData, Split

CFG = ModelConfig(hidden=(8,), lr=0.1, batch_size=8)


@pytest.fixture(scope="module")
def data() -> LocalData:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    X = (rng.normal(size=(90, 6)) + y[:, None]).astype(np.float32)
    return LocalData(Split(X[:60], y[:60]), Split(X[60:], y[60:]), 3)


def test_torch_is_the_default_and_numpy_stands_in_exactly_for_a_plain_mlp(data: LocalData) -> None:
    t = make_learner(CFG, data, seed=5)
    n = make_learner(CFG, data, seed=5, backend="numpy")
    assert type(t) is TorchLearner and type(n) is NumpyMLPLearner
    assert type(make_learner(CFG, data, seed=5, backend="auto")) is NumpyMLPLearner
    assert t.manifest.schema == n.manifest.schema
    np.testing.assert_array_equal(t.initial_params(), n.initial_params())
    a, _ = t.train(t.initial_params(), 7)
    b, _ = n.train(n.initial_params(), 7)
    np.testing.assert_allclose(a, b, atol=2e-6)


@pytest.mark.parametrize("mode", ["head", "finetune"])
def test_personalisation_wraps_the_torch_learner(data: LocalData, mode: str) -> None:
    cfg = replace(CFG, personalize=mode)
    lrn = make_learner(cfg, data, seed=1, backend="auto")  # auto: personalised models need torch
    assert isinstance(lrn, PersonalLearner) and lrn.mode == mode and type(lrn.inner) is TorchLearner
    assert not numpy_backend(cfg, "auto")


def test_bad_backends_are_refused_naming_the_key(data: LocalData) -> None:
    with pytest.raises(ConfigError, match="sim.learner = 'numpy' supports plain MLPs only"):
        numpy_backend(replace(CFG, kind="cnn1d"), "numpy", "sim.learner")
    with pytest.raises(ConfigError, match="learner must be one of auto, numpy, torch"):
        make_learner(CFG, data, seed=0, backend="jax")
    assert BACKENDS == ("auto", "numpy", "torch")
