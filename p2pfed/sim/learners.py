"""The simulator's learners: one per node, numpy (batched across nodes) for plain MLPs, else torch.

`sim.learner = "auto"` picks `p2pfed.nplearn.NumpyMLPLearner` when the model is an MLP without
personalisation: it has the same initial parameters, manifest (schema), batch stream and SGD
arithmetic as the deployed `TorchLearner` (tests/test_nplearn.py checks it), and trains many
nodes in one stacked matmul.  Everything else uses `TorchLearner`, node by node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from p2pfed import nplearn
from p2pfed.batches import node_seed
from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.sim.spec import SimSpec
from p2pfed.types import LocalData, Manifest, Split, TrainStats


def use_numpy(spec: SimSpec) -> bool:
    plain_mlp = spec.model.kind == "mlp" and spec.model.personalize == "none"
    if spec.sim.learner == "numpy" and not plain_mlp:
        raise ConfigError("sim.learner = 'numpy' supports plain MLPs only (model.kind = 'mlp', no personalisation)")
    return spec.sim.learner == "numpy" or (spec.sim.learner == "auto" and plain_mlp)


def build(spec: SimSpec, datas: Sequence[LocalData], ids: Sequence[str]) -> list[Any]:
    """One learner per node, seeded like the deployed node with the same id."""
    cfg = spec.model
    if use_numpy(spec):
        return [nplearn.NumpyMLPLearner(cfg, d, seed=node_seed(i, cfg.train_seed)) for d, i in zip(datas, ids)]
    from p2pfed.learner import TorchLearner
    from p2pfed.personal import personalize

    return [
        personalize(TorchLearner(cfg, d, seed=node_seed(i, cfg.train_seed), threads=1), cfg.personalize, cfg.head_layers, cfg.finetune_steps)
        for d, i in zip(datas, ids)
    ]


def macs_per_sample(cfg: ModelConfig, data: LocalData, manifest: Manifest) -> float:
    """Multiply-accumulates of one forward pass (for device timing).

    An MLP's are the sizes of its weight matrices (computed here, so a numpy-only simulation
    never imports torch); other kinds ask `p2pfed.models.describe_model`.
    """
    if cfg.kind == "mlp":
        return float(sum(int(np.prod(s)) for s in manifest.shapes if len(s) == 2))
    from p2pfed.models import describe_model

    return float(describe_model(cfg, data.input_shape, data.n_classes).macs)


def train_many(jobs: Sequence[tuple[Any, np.ndarray, int]]) -> list[tuple[np.ndarray, TrainStats]]:
    """Train each (learner, params, steps); numpy learners together in one batch."""
    out: list[tuple[np.ndarray, TrainStats] | None] = [None] * len(jobs)
    np_idx = [k for k, (l, _, _) in enumerate(jobs) if isinstance(l, nplearn.NumpyMLPLearner)]
    if np_idx:
        for k, r in zip(np_idx, nplearn.train_many([jobs[k] for k in np_idx])):
            out[k] = r
    for k, (learner, params, steps) in enumerate(jobs):
        if out[k] is None:
            out[k] = learner.train(params, steps)
    return out  # type: ignore[return-value]


def accuracy(learner: Any, params: np.ndarray, split: Split) -> float | None:
    if len(split) == 0:
        return None
    return float(np.mean(learner.predict(params, split.X) == split.y))


def accuracy_many(learners: Sequence[Any], models: Sequence[np.ndarray], split: Split) -> list[float | None]:
    """Accuracy of each model on one shared split (numpy MLPs: all models in one stacked pass)."""
    if len(split) == 0:
        return [None] * len(models)
    if learners and all(isinstance(l, nplearn.NumpyMLPLearner) for l in learners):
        preds = learners[0].predict_many(list(models), split.X)
        return [float(np.mean(p == split.y)) for p in preds]
    return [accuracy(l, m, split) for l, m in zip(learners, models)]
