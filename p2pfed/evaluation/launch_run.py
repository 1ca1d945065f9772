"""Evaluation of a `p2pfed launch` run from the models its nodes saved (RUN/evaluation.json)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from p2pfed.config import load_node_config
from p2pfed.data import load_heldout, load_local
from p2pfed.errors import DataError, StateError
from p2pfed.evaluation.scoring import EVALUATION_FILE, NodeOutcome, evaluate_run, read_evaluation, write_evaluation
from p2pfed.evaluation.summary import read_summary
from p2pfed.learning.base import Learner
from p2pfed.learning.factory import make_learner
from p2pfed.node.state import load_state
from p2pfed.types import LocalData, Split

log = logging.getLogger(__name__)


def is_launch_run(run_dir: Path) -> bool:
    """A folder written by `p2pfed launch`: node configs in nodes/ and node state in state/."""
    nodes = run_dir / "nodes"
    return nodes.is_dir() and (run_dir / "state").is_dir() and any(nodes.glob("*.toml"))


def _check_run_dir(run_dir: Path) -> None:
    if not run_dir.exists():
        raise DataError(f"{run_dir}: no such run directory")
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: not a directory; pass the run folder (e.g. runs/20250101-120000)")
    if not ((run_dir / EVALUATION_FILE).is_file() or is_launch_run(run_dir)):
        raise DataError(
            f"{run_dir} is not a run directory: it has no {EVALUATION_FILE} and is not a "
            "`p2pfed launch` folder (nodes/*.toml and state/)"
        )


def _group_of(data: LocalData) -> str:
    meta = data.meta
    if meta.get("archetypes"):
        return "+".join(str(a) for a in meta["archetypes"])  # type: ignore[union-attr]
    if meta.get("subjects"):
        return "+".join(f"subject {s}" for s in meta["subjects"])  # type: ignore[union-attr]
    if meta.get("users"):
        return "+".join(f"user {u}" for u in meta["users"])  # type: ignore[union-attr]
    return ""


def evaluate_launch_run(run_dir: str | Path, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate a `p2pfed launch` run from what its nodes saved: the evaluation document.

    Each node's data and learner are rebuilt from its config in nodes/ (the node's own rows,
    split and standardized exactly as the node did; personalisation as configured) and its last
    checkpointed model (state/<id>/state.npz, with the local head of personalize = "head") is
    scored on its own held-out rows and on the held-out people. Nodes that never checkpointed
    are skipped with a warning. For personalize = "finetune" runs the shared, not fine-tuned
    models are evaluated too, under the key ``"shared_model"``. Baselines recorded in
    summary.json are attached under ``"baselines"``.

    Like the baselines, this is an experimenter's tool: it reads every node's data in one process.
    """
    from p2pfed.learning.batches import node_seed

    run_dir = Path(run_dir)
    _check_run_dir(run_dir)
    if not is_launch_run(run_dir):
        raise DataError(f"{run_dir} is not a `p2pfed launch` folder (nodes/*.toml and state/)")
    say = progress or (lambda _m: None)
    outcomes: list[NodeOutcome] = []
    shared: list[NodeOutcome] = []
    heldout: Split | None = None
    info: LocalData | None = None
    configs = sorted((run_dir / "nodes").glob("*.toml"))
    for i, path in enumerate(configs):
        cfg = load_node_config(path)
        node_id = cfg.node.id
        say(f"evaluating {node_id} ({i + 1}/{len(configs)})")
        data = load_local(cfg.data)
        if info is None:
            info = data
            heldout = load_heldout(cfg.data)
        elif data.n_classes != info.n_classes or data.input_shape != info.input_shape:
            raise DataError(f"{path}: node {node_id}'s data does not match the other nodes' (classes, shape)")
        m = cfg.model
        learner = make_learner(m, data, seed=node_seed(node_id, m.train_seed), threads=1)
        try:
            state = load_state(cfg.node.state_dir, node_id, learner.manifest.schema)
        except StateError as e:
            raise StateError(f"cannot evaluate {node_id} with the model its config describes: {e}") from None
        if state is None:
            log.warning("%s has no saved state in %s; left out of the evaluation", node_id, cfg.node.state_dir)
            continue
        if hasattr(learner, "load_state_arrays"):
            learner.load_state_arrays(state.optimizer)  # the local head of personalize = "head"
        group = _group_of(data)
        outcomes.append(_outcome(learner, node_id, group, state.params, data, heldout))
        if m.personalize == "finetune":
            inner = learner.inner  # type: ignore[attr-defined]  # the PersonalLearner's plain model
            shared.append(_outcome(inner, node_id, group, state.params, data, heldout))
    if not outcomes or info is None:
        raise DataError(f"{run_dir}: no node has saved a model in state/<id>/state.npz yet")
    extra: dict[str, Any] = {"source": {"kind": "launch", "nodes_evaluated": len(outcomes), "nodes": len(configs)}}
    names = list(info.label_names) or [str(c) for c in range(info.n_classes)]
    if shared:
        extra["shared_model"] = evaluate_run(shared, heldout, info.n_classes, names)
    summary = read_summary(run_dir)
    if summary and summary.get("baselines"):
        extra["baselines"] = summary["baselines"]
    return evaluate_run(outcomes, heldout, info.n_classes, names, extra=extra)


def _outcome(
    learner: Learner, node_id: str, group: str, params: np.ndarray, data: LocalData, heldout: Split | None
) -> NodeOutcome:
    return NodeOutcome(
        node=node_id,
        group=group,
        local_true=data.test.y,
        local_pred=learner.predict(params, data.test.X),
        heldout_pred=learner.predict(params, heldout.X) if heldout is not None else None,
    )


def load_or_evaluate(
    run_dir: str | Path, recompute: bool = False, progress: Callable[[str], None] | None = None
) -> tuple[dict[str, Any], bool]:
    """RUN/evaluation.json, computing (and writing) it first for a launch run without one.

    Returns the evaluation and whether it was computed now.
    """
    run_dir = Path(run_dir)
    _check_run_dir(run_dir)
    if (run_dir / EVALUATION_FILE).is_file() and not (recompute and is_launch_run(run_dir)):
        return read_evaluation(run_dir), False
    if not is_launch_run(run_dir):
        raise DataError(f"{run_dir}: --recompute needs a `p2pfed launch` folder (nodes/*.toml and state/)")
    evaluation = evaluate_launch_run(run_dir, progress)
    write_evaluation(run_dir, evaluation)
    return evaluation, True
