"""Tests of p2pfed.evaluation.baselines.fit: the reference trainings start from the federation's initial model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from p2pfed.config import ModelConfig
from p2pfed.evaluation.baselines import fit
from p2pfed.learning.torch_learner import TorchLearner
from p2pfed.types import LocalData, Split

CFG = ModelConfig(hidden=(16,), lr=0.1, batch_size=16)


def blobs(n: int = 200, d: int = 12, classes: int = 4) -> LocalData:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(classes, d)) * 4
    y = rng.integers(0, classes, size=2 * n)
    X = (centres[y] + rng.normal(size=(2 * n, d))).astype(np.float32)
    return LocalData(Split(X[:n], y[:n]), Split(X[n:], y[n:]), classes)


def test_fit_trains_the_plain_model_from_the_initial_model() -> None:
    data = blobs()
    params, lrn = fit(CFG, data, 40)
    fresh = TorchLearner(CFG, data, seed=0)
    expected, _ = fresh.train(fresh.initial_params(), 40)
    np.testing.assert_array_equal(params, expected)
    assert lrn.evaluate(params, data.test).accuracy > 0.5
    # a personalised run's baselines train the same plain model (nothing is kept local in a baseline)
    personal, _ = fit(replace(CFG, personalize="finetune"), data, 40)
    np.testing.assert_array_equal(personal, expected)
