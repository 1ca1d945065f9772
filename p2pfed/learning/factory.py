"""The one learner factory: the learner a node trains with, for its model config and its data.

Every part that trains or scores a model builds its learner here: the deployed node
(`p2pfed.node.runner`), the simulator, the launch-run evaluation and the baselines.  A learner is
`TorchLearner` (the deployed learner), wrapped in a `PersonalLearner` when `model.personalize`
asks for it, or, where it can stand in exactly, `NumpyMLPLearner`: the same initial parameters,
manifest (schema), batch stream and SGD arithmetic as `TorchLearner` for a plain MLP
(tests/learning/test_numpy_mlp.py checks it), and it trains many nodes in one stacked matmul.
torch is imported only when a torch learner is built, so a numpy-only simulation never loads it.
"""

from __future__ import annotations

from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.learning.base import Learner
from p2pfed.learning.numpy_mlp import NumpyMLPLearner
from p2pfed.learning.personal import personalize
from p2pfed.types import LocalData

#: Learner implementations `make_learner` can pick ("auto": numpy for plain MLPs, else torch).
BACKENDS = ("auto", "numpy", "torch")


def numpy_backend(cfg: ModelConfig, backend: str = "auto", key: str = "learner") -> bool:
    """True if `backend` means the numpy MLP for `cfg`; ConfigError (naming `key`) if it cannot."""
    if backend not in BACKENDS:
        raise ConfigError(f"{key} must be one of {', '.join(BACKENDS)}, got {backend!r}")
    plain_mlp = cfg.kind == "mlp" and cfg.personalize == "none"
    if backend == "numpy" and not plain_mlp:
        raise ConfigError(f"{key} = 'numpy' supports plain MLPs only (model.kind = 'mlp', no personalisation)")
    return backend == "numpy" or (backend == "auto" and plain_mlp)


def make_learner(
    cfg: ModelConfig,
    data: LocalData,
    *,
    seed: int,
    backend: str = "torch",
    threads: int | None = None,
) -> Learner:
    """The learner for `cfg` on `data`, its batch stream seeded by `seed` (a node: `node_seed(id, cfg.train_seed)`).

    `backend` is one of BACKENDS; `threads` sets torch's (process-wide) intra-op thread count.
    """
    if numpy_backend(cfg, backend):
        return NumpyMLPLearner(cfg, data, seed=seed)
    from p2pfed.learning.torch_learner import TorchLearner

    inner = TorchLearner(cfg, data, seed=seed, threads=threads)
    return personalize(inner, cfg.personalize, cfg.head_layers, cfg.finetune_steps)
