"""The learner protocol and what every learner shares, torch-free: plumbing, input checks, optimiser state, batch position.

`TorchLearner` (p2pfed.learning.torch_learner) and `NumpyMLPLearner` (p2pfed.learning.numpy_mlp) are interchangeable for an
MLP, so they must reject the same inputs with the same messages and persist the same state; both
derive from `LearnerBase`, which needs from a subclass only `_manifest`, `_initial` (the initial
vector, read-only), `_input_shape`, `_n_classes`, `_n` (training rows), `_stream` (a
`p2pfed.learning.batches.BatchStream`) and `_momentum()` (the momentum buffer as a writable
float32 numpy view, or None without momentum). The config checks they share are in
`p2pfed.learning.checks`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from p2pfed.learning.batches import BatchStream
from p2pfed.errors import DataError
from p2pfed.types import PARAM_DTYPE, EvalStats, Manifest, Split, TrainStats

log = logging.getLogger(__name__)

MOMENTUM_KEY = "momentum"


@runtime_checkable
class Learner(Protocol):
    """Trains and evaluates a model given as a flat float32 vector (torch stays behind this)."""

    @property
    def manifest(self) -> Manifest: ...

    def initial_params(self) -> np.ndarray:
        """The federation-wide initial model (same on every node for the same config)."""
        ...

    def train(self, params: np.ndarray, steps: int) -> tuple[np.ndarray, TrainStats]:
        """Run `steps` local optimisation steps from `params`; return the new vector."""
        ...

    def evaluate(self, params: np.ndarray, split: Split) -> EvalStats: ...

    def predict(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predicted class (int64) of every row of `X` under the model `params`."""
        ...


class LearnerBase:
    """Shared part of the learners (see the module docstring for what a subclass provides)."""

    _manifest: Manifest
    _initial: np.ndarray
    _input_shape: tuple[int, ...]
    _n_classes: int
    _n: int
    _stream: BatchStream

    def _momentum(self) -> np.ndarray | None:
        raise NotImplementedError

    # -- Learner protocol: what does not depend on how a learner computes --------------------

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def initial_params(self) -> np.ndarray:
        """The federation-wide initial model (depends only on the model config and data shapes)."""
        return self._initial.copy()

    def _steps_to_run(self, steps: int) -> int:
        """`train`'s `steps` as an int, ValueError unless a non-negative integer; 0 without training rows."""
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        count = int(steps)
        if count and not self._n:
            # logged under the learner's own module, as it was before this moved here
            logging.getLogger(type(self).__module__).debug("no local training data: skipping %d steps", count)
            return 0
        return count

    # -- optimiser state and batch stream ----------------------------------------------------

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Optimiser state as flat float32 arrays (``{"momentum": ...}``; empty if momentum is 0)."""
        buf = self._momentum()
        return {} if buf is None else {MOMENTUM_KEY: buf.copy()}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore what `state_arrays` returned; an absent or empty entry resets the state."""
        unknown = sorted(set(arrays) - {MOMENTUM_KEY})
        if unknown:
            raise ValueError(f"unknown optimiser state entries: {', '.join(unknown)} (known: momentum)")
        buf = self._momentum()
        arr = arrays.get(MOMENTUM_KEY)
        if arr is None or np.asarray(arr).size == 0:
            if buf is not None:
                buf[...] = 0
            return
        if buf is None:
            log.info("ignoring the saved momentum buffer: model.momentum is 0")
            return
        a = self._check_vector(np.asarray(arr), "momentum buffer")
        if not np.isfinite(a).all():
            raise ValueError("momentum buffer holds NaN or infinite values")
        buf[...] = a

    @property
    def samples_drawn(self) -> int:
        """Position in the batch stream (training samples drawn so far)."""
        return self._stream.samples_drawn

    @samples_drawn.setter
    def samples_drawn(self, value: int) -> None:
        self._stream.samples_drawn = value

    @property
    def n_train(self) -> int:
        """Number of local training samples."""
        return self._n

    # -- input checks ----------------------------------------------------------------------------

    def _check_vector(self, params: object, what: str) -> np.ndarray:
        """`params` itself if it is a flat float32 vector of the model's size, else ValueError."""
        size = self._manifest.size
        if not isinstance(params, np.ndarray):
            raise ValueError(f"{what} must be a numpy array, got {type(params).__name__}")
        if params.dtype != PARAM_DTYPE:
            raise ValueError(f"{what} must have dtype float32 ('<f4'), got {params.dtype.str!r}")
        if params.shape != (size,):
            raise ValueError(
                f"{what} has shape {params.shape}; model {self._manifest.arch} needs a flat vector of {size} values"
            )
        return params

    def _check_features(self, X: object, what: str) -> np.ndarray:
        """`X` as an array of samples of the model's input shape with numeric features, else DataError."""
        X = np.asarray(X)
        if X.ndim < 1 or tuple(X.shape[1:]) != self._input_shape:
            raise DataError(
                f"{what} data: samples have shape {tuple(X.shape[1:])}, the model expects {self._input_shape}"
            )
        if X.dtype.kind not in "biuf":
            raise DataError(f"{what} data: features must be numbers, got {X.dtype}")
        return X

    def _check_split(self, split: Split, what: str) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) of `split` after the feature checks, with integer labels in 0..n_classes-1."""
        X, y = np.asarray(split.X), np.asarray(split.y)
        if X.ndim < 1 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise DataError(f"{what} data: X has shape {X.shape} but y has shape {y.shape}")
        X = self._check_features(X, what)
        if y.size and not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{what} data: labels must be integers, got {y.dtype}")
        if y.size and (int(y.min()) < 0 or int(y.max()) >= self._n_classes):
            raise DataError(
                f"{what} data: labels must be in 0..{self._n_classes - 1}, got {int(y.min())}..{int(y.max())}"
            )
        return X, y
