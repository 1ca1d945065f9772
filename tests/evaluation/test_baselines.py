"""Tests of p2pfed.evaluation.baselines.fit: the reference trainings start from the federation's initial model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from helpers import blobs

from p2pfed.config import ModelConfig
from p2pfed.evaluation.baselines import fit
from p2pfed.learning.torch_learner import TorchLearner

CFG = ModelConfig(hidden=(16,), lr=0.1, batch_size=16)


def test_fit_trains_the_plain_model_from_the_initial_model() -> None:
    data = blobs(n=200, d=12)
    params, lrn = fit(CFG, data, 40)
    fresh = TorchLearner(CFG, data, seed=0)
    expected, _ = fresh.train(fresh.initial_params(), 40)
    np.testing.assert_array_equal(params, expected)
    assert lrn.evaluate(params, data.test).accuracy > 0.5
    # a personalised run's baselines train the same plain model (nothing is kept local in a baseline)
    personal, _ = fit(replace(CFG, personalize="finetune"), data, 40)
    np.testing.assert_array_equal(personal, expected)
