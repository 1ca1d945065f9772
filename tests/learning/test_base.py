"""Tests of p2pfed.learning.base: the optimiser state and batch position every learner keeps, for both learners."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from p2pfed.config import ModelConfig
from p2pfed.learning.numpy_mlp import NumpyMLPLearner
from p2pfed.learning.torch_learner import TorchLearner
from p2pfed.types import PARAM_DTYPE, LocalData

CFG = ModelConfig(hidden=(16,), lr=0.1, batch_size=16, init_seed=0, train_seed=0)
LEARNERS = pytest.mark.parametrize("cls", [TorchLearner, NumpyMLPLearner], ids=["torch", "numpy"])


@LEARNERS
def test_no_state_without_momentum(data: LocalData, cls: type) -> None:
    lrn = cls(CFG, data)
    assert lrn.state_arrays() == {}
    lrn.load_state_arrays({})
    lrn.load_state_arrays({"momentum": np.ones(468, np.float32)})  # ignored: momentum is 0


@LEARNERS
def test_state_round_trip_continues_identically(data: LocalData, cls: type) -> None:
    cfg = replace(CFG, momentum=0.9, weight_decay=1e-3, lr=0.02)
    uninterrupted = cls(cfg, data, seed=2)
    p, _ = uninterrupted.train(uninterrupted.initial_params(), 15)
    expected, _ = uninterrupted.train(p, 15)

    first = cls(cfg, data, seed=2)
    mid, _ = first.train(first.initial_params(), 15)
    np.testing.assert_array_equal(mid, p)
    saved = first.state_arrays()
    position = first.samples_drawn
    assert set(saved) == {"momentum"} and saved["momentum"].dtype == PARAM_DTYPE
    assert saved["momentum"].shape == (468,) and np.abs(saved["momentum"]).sum() > 0

    resumed = cls(cfg, data, seed=2)  # e.g. after a restart
    resumed.load_state_arrays(saved)
    resumed.samples_drawn = position
    np.testing.assert_array_equal(resumed.train(mid, 15)[0], expected)

    # without the momentum buffer the continuation differs
    cold = cls(cfg, data, seed=2)
    cold.samples_drawn = position
    assert not np.array_equal(cold.train(mid, 15)[0], expected)


@LEARNERS
def test_state_arrays_are_copies_and_empty_resets(data: LocalData, cls: type) -> None:
    lrn = cls(replace(CFG, momentum=0.5), data)
    assert not lrn.state_arrays()["momentum"].any()
    lrn.train(lrn.initial_params(), 3)
    s = lrn.state_arrays()
    s["momentum"][:] = 0
    assert lrn.state_arrays()["momentum"].any()
    lrn.load_state_arrays({"momentum": np.zeros(0, np.float32)})
    assert not lrn.state_arrays()["momentum"].any()


@LEARNERS
@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        ({"velocity": np.zeros(468, np.float32)}, "unknown optimiser state entries: velocity"),
        ({"momentum": np.zeros(10, np.float32)}, "momentum buffer has shape"),
        ({"momentum": np.zeros(468, np.float64)}, "momentum buffer must have dtype float32"),
        ({"momentum": np.full(468, np.nan, np.float32)}, "NaN or infinite"),
    ],
)
def test_bad_state_rejected(data: LocalData, cls: type, state: dict[str, np.ndarray], fragment: str) -> None:
    lrn = cls(replace(CFG, momentum=0.9), data)
    with pytest.raises(ValueError, match=fragment):
        lrn.load_state_arrays(state)


@LEARNERS
def test_samples_drawn_setter_validates(data: LocalData, cls: type) -> None:
    lrn = cls(CFG, data)
    lrn.train(lrn.initial_params(), 4)
    assert lrn.samples_drawn == 4 * CFG.batch_size
    with pytest.raises(ValueError, match="samples_drawn"):
        lrn.samples_drawn = -1
