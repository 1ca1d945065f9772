"""Training and scoring many nodes' learners at once: numpy MLPs stacked into one pass, others one by one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from p2pfed.learning.base import Learner
from p2pfed.learning.numpy_mlp import NumpyMLPLearner, train_many as numpy_train_many
from p2pfed.types import Split, TrainStats


def train_many(jobs: Sequence[tuple[Learner, np.ndarray, int]]) -> list[tuple[np.ndarray, TrainStats]]:
    """Train each (learner, params, steps); numpy learners together in one batch."""
    out: list[tuple[np.ndarray, TrainStats] | None] = [None] * len(jobs)
    np_idx = [k for k, (lrn, _, _) in enumerate(jobs) if isinstance(lrn, NumpyMLPLearner)]
    if np_idx:
        for k, r in zip(np_idx, numpy_train_many([jobs[k] for k in np_idx])):  # type: ignore[misc]
            out[k] = r
    for k, (learner, params, steps) in enumerate(jobs):
        if out[k] is None:
            out[k] = learner.train(params, steps)
    return out  # type: ignore[return-value]


def accuracy(learner: Learner, params: np.ndarray, split: Split) -> float | None:
    """Share of `split` that `learner` classifies right under `params` (None for an empty split)."""
    if len(split) == 0:
        return None
    return float(np.mean(learner.predict(params, split.X) == split.y))


def accuracy_many(learners: Sequence[Learner], models: Sequence[np.ndarray], split: Split) -> list[float | None]:
    """Accuracy of each model on one shared split (numpy MLPs: all models in one stacked pass)."""
    if len(split) == 0:
        return [None] * len(models)
    if learners and all(isinstance(lrn, NumpyMLPLearner) for lrn in learners):
        preds = learners[0].predict_many(list(models), split.X)  # type: ignore[attr-defined]
        return [float(np.mean(p == split.y)) for p in preds]
    return [accuracy(lrn, m, split) for lrn, m in zip(learners, models)]
