"""Shared by the evaluation tests: final node metrics of a two-node run, a PNG check, launch-run folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PNG = b"\x89PNG\r\n\x1a\n"
FINAL = {
    "n0": {"heldout_acc": 0.8, "local_acc": 0.9, "exchanges": 10, "train_steps": 100, "bytes_out": 5, "rejections": {"replay": 1}},
    "n1": {"heldout_acc": 0.9, "local_acc": None, "exchanges": 12, "train_steps": 90, "bytes_out": 7, "rejections": {}},
}
BASE = {"local_only": {"heldout_acc": 0.6, "local_acc": 0.85}, "central": {"heldout_acc": 0.9, "local_acc": 0.95}}


@pytest.fixture
def final() -> dict[str, dict[str, Any]]:
    """Each node's final metrics record of a two-node run."""
    return FINAL


@pytest.fixture
def base() -> dict[str, dict[str, float]]:
    """Local-only and central baselines of that run."""
    return BASE


def _is_png(path: Path) -> bool:
    from matplotlib.image import imread

    return path.read_bytes()[:8] == PNG and imread(path).ndim == 3


@pytest.fixture
def is_png() -> Callable[[Path], bool]:
    """Whether a file is a readable colour PNG."""
    return _is_png


@pytest.fixture
def launch_run(tmp_path: Path) -> Callable[..., tuple[Any, dict[str, Any]]]:
    """Builds a real `p2pfed launch` run folder whose nodes trained and checkpointed (no processes)."""
    import torch

    torch.set_num_threads(1)

    def build(overrides: tuple[str, ...] = (), data: str = "", nodes: int = 3, steps: int = 40) -> tuple[Any, dict[str, Any]]:
        from p2pfed.data import load_local
        from p2pfed.launch.local import LaunchSpec, LocalFederation
        from p2pfed.learning.personal import personalize
        from p2pfed.learning.torch_learner import TorchLearner
        from p2pfed.node.runner import node_seed
        from p2pfed.node.state import NodeState, save_state

        fed = LocalFederation.prepare(LaunchSpec(nodes=nodes, topology="ring", data=data, overrides=overrides, out=str(tmp_path / "run")))
        learners = {}
        for i, node_id in enumerate(fed.ids):
            cfg = fed.node_config(node_id)
            d = load_local(cfg.data)
            m = cfg.model
            lrn = personalize(TorchLearner(m, d, seed=node_seed(node_id, m.train_seed)), m.personalize, m.head_layers, m.finetune_steps)
            params, _ = lrn.train(lrn.initial_params(), steps * (i + 1))
            save_state(cfg.node.state_dir, NodeState(node_id, lrn.manifest.schema, params, optimizer=lrn.state_arrays(), samples_drawn=lrn.samples_drawn))  # type: ignore[attr-defined]
            learners[node_id] = (lrn, params, d)
        return fed, learners

    return build
