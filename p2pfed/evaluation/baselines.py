"""Reference points for a run: each node trained alone, and one model trained on everyone's data.

These are experimenter's tools for a local run (they read every node's data in one process,
which a real deployment never does): the launcher uses them to show what gossip bought.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from p2pfed.config import ModelConfig, NodeConfig
from p2pfed.data import load_heldout, load_local
from p2pfed.learning.base import Learner
from p2pfed.learning.factory import make_learner
from p2pfed.types import LocalData, Split

log = logging.getLogger(__name__)


def fit(cfg: ModelConfig, data: LocalData, steps: int) -> tuple[np.ndarray, Learner]:
    """The plain model (never personalised) trained from the federation's initial model for `steps` SGD steps.

    Returns the final parameters and the learner, whose `evaluate` scores them on any split.
    """
    learner = make_learner(dataclasses.replace(cfg, personalize="none"), data, seed=0)
    params, stats = learner.train(learner.initial_params(), steps)
    log.debug("fit: %d steps, mean loss %.4f", stats.steps, stats.loss)
    return params, learner


def _pool(parts: Sequence[Split]) -> Split:
    return Split(np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts]))


def run_baselines(
    configs: Sequence[NodeConfig],
    steps: Sequence[int],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Local-only (each node, its own step count) and central (pooled data, the sum of steps).

    Both use the run's model config and are scored like the nodes: on the held-out people and
    on each node's own held-out rows.
    """
    if len(configs) != len(steps):
        raise ValueError("one step count per node config")
    say = progress or (lambda _m: None)
    datas: list[LocalData] = [load_local(c.data) for c in configs]
    heldout = load_heldout(configs[0].data)
    local: list[dict[str, Any]] = []
    for cfg, data, n in zip(configs, datas, steps):
        say(f"local-only: training {cfg.node.id} alone for {n} steps")
        params, learner = fit(cfg.model, data, max(int(n), 1))
        local.append(
            {
                "node": cfg.node.id,
                "steps": int(n),
                "local_acc": learner.evaluate(params, data.test).accuracy,
                "heldout_acc": learner.evaluate(params, heldout).accuracy if heldout is not None else None,
            }
        )
    pooled = LocalData(
        train=_pool([d.train for d in datas]),
        test=_pool([d.test for d in datas]),
        n_classes=datas[0].n_classes,
        feature_names=datas[0].feature_names,
        label_names=datas[0].label_names,
    )
    total = max(int(sum(steps)), 1)
    say(f"central: training one model on all {len(pooled.train)} rows for {total} steps")
    params, learner = fit(configs[0].model, pooled, total)
    central_local = [learner.evaluate(params, d.test).accuracy for d in datas]
    central = {
        "steps": total,
        "local_acc": float(np.mean(central_local)),
        "heldout_acc": learner.evaluate(params, heldout).accuracy if heldout is not None else None,
        "per_node_local_acc": dict(zip([c.node.id for c in configs], central_local)),
    }
    return {
        "local_only": {
            "local_acc": _mean([r["local_acc"] for r in local]),
            "heldout_acc": _mean([r["heldout_acc"] for r in local]),
            "per_node": local,
        },
        "central": central,
    }


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None
