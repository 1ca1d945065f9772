"""Personalisation over any Learner: gossip a shared body and keep a local head, or fine-tune locally.

Two modes, selected per run by ``model.personalize`` (``"none"`` leaves the learner as it is):

``"head"``
    The model's flat vector is split into a shared **body** and a local **head**. The head is the
    last ``head_layers`` layers with parameters, in manifest order (layers are named by the
    manifest names' prefix before the last ``.``; with the default ``head_layers = 1`` it is the
    final classifier ``out.weight``/``out.bias`` of the p2pfed models). Because the manifest lists
    parameters in flat-vector order, the body is a prefix of the vector and the head its tail.
    `PersonalLearner` then implements the `Learner` protocol over the **body only**: its manifest
    is the body's (with an arch suffix, so its schema differs from the full model's), and node
    cores, the wire and the simulator only ever see, average and send bodies. ``train(body)``
    trains the full model (body + this node's head) with the inner learner, keeps the new head
    privately and returns the new body; ``evaluate``/``predict`` use this node's head.

``"finetune"``
    The whole model is gossiped (the manifest is the inner learner's), and ``train`` is the inner
    learner's. ``evaluate``/``predict`` first fine-tune a copy of the model for
    ``finetune_steps`` local steps and score that copy. The fine-tuning always starts at the same
    position of the inner learner's batch stream (``finetune_from``) with fresh optimiser state,
    and both are restored afterwards, so evaluation is deterministic and does not disturb the
    training batch stream or momentum. The last fine-tuned model is cached by a hash of its
    input vector, so scoring the same model on several splits fine-tunes once.

The head (mode "head") is node state: `local_state` / `load_local_state` read and restore it,
and `state_arrays` / `load_state_arrays` carry it next to the inner learner's optimiser state
under the key ``"personal_head"``, so a node that checkpoints its learner's state arrays
persists the head with no further change.

Like the inner learner, a `PersonalLearner` is not thread-safe: call it from one thread.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from p2pfed.errors import ConfigError
from p2pfed.learning.base import Learner
from p2pfed.types import PARAM_DTYPE, EvalStats, Manifest, Split, TrainStats

log = logging.getLogger(__name__)

#: ``model.personalize`` values.
MODES = ("none", "head", "finetune")

#: Key of the local head in `PersonalLearner.state_arrays`.
HEAD_STATE_KEY = "personal_head"


def layer_groups(manifest: Manifest) -> list[tuple[str, int]]:
    """(layer name, parameter count) of each layer, in flat-vector order.

    A layer is a run of consecutive manifest entries sharing the prefix before the last ``.``
    (``fc1.weight`` and ``fc1.bias`` form layer ``fc1``).
    """
    groups: list[tuple[str, int]] = []
    for name, shape in zip(manifest.names, manifest.shapes, strict=True):
        layer = name.rpartition(".")[0] or name
        size = int(np.prod(shape, dtype=np.int64))
        if groups and groups[-1][0] == layer:
            groups[-1] = (layer, groups[-1][1] + size)
        else:
            groups.append((layer, size))
    return groups


def split_manifest(manifest: Manifest, head_layers: int) -> tuple[Manifest, tuple[str, ...]]:
    """The body's manifest and the head's layer names when the last `head_layers` layers stay local.

    The body manifest's arch is the full model's plus ``+body(local=<head layers>)``, so its
    schema differs from the full model's and from bodies with another head.
    """
    if isinstance(head_layers, bool) or not isinstance(head_layers, int) or head_layers < 1:
        raise ConfigError(f"model.head_layers must be a positive integer, got {head_layers!r}")
    groups = layer_groups(manifest)
    if head_layers >= len(groups):
        names = ", ".join(g for g, _ in groups)
        raise ConfigError(
            f"model.head_layers = {head_layers} leaves no shared body: the model has only "
            f"{len(groups)} layer(s) with parameters ({names}); use a smaller model.head_layers "
            "or add model.hidden layers"
        )
    head = tuple(g for g, _ in groups[-head_layers:])
    n_body = sum(1 for n in manifest.names if (n.rpartition(".")[0] or n) not in head)
    body = Manifest(
        names=manifest.names[:n_body],
        shapes=manifest.shapes[:n_body],
        arch=f"{manifest.arch}+body(local={','.join(head)})",
        dtype=manifest.dtype,
    )
    return body, head


def _vector(params: object, size: int, what: str) -> np.ndarray:
    if not isinstance(params, np.ndarray):
        raise ValueError(f"{what} must be a numpy array, got {type(params).__name__}")
    if params.dtype != PARAM_DTYPE:
        raise ValueError(f"{what} must have dtype float32 ('<f4'), got {params.dtype.str!r}")
    if params.shape != (size,):
        raise ValueError(f"{what} has shape {params.shape}; expected a flat vector of {size} values")
    return params


class PersonalLearner:
    """A `Learner` that personalises another one (mode "head" or "finetune", see the module doc)."""

    def __init__(
        self,
        inner: Learner,
        mode: str,
        head_layers: int = 1,
        finetune_steps: int = 20,
        finetune_from: int = 0,
    ) -> None:
        if mode not in ("head", "finetune"):
            raise ConfigError(
                f"PersonalLearner mode must be 'head' or 'finetune', got {mode!r} "
                "(model.personalize = 'none' needs no PersonalLearner)"
            )
        self._inner = inner
        self._mode = mode
        full = inner.manifest
        self._full_size = full.size
        self._head: np.ndarray | None = None
        self._cache: tuple[bytes, np.ndarray] | None = None
        if mode == "head":
            self._manifest, self._head_names = split_manifest(full, head_layers)
            self._body_size = self._manifest.size
            self._head = inner.initial_params()[self._body_size :].copy()
        else:
            if isinstance(finetune_steps, bool) or not isinstance(finetune_steps, int) or finetune_steps < 0:
                raise ConfigError(f"model.finetune_steps must be a non-negative integer, got {finetune_steps!r}")
            if isinstance(finetune_from, bool) or not isinstance(finetune_from, int) or finetune_from < 0:
                raise ConfigError(f"finetune_from must be a non-negative integer, got {finetune_from!r}")
            if not hasattr(inner, "samples_drawn"):
                raise ConfigError(
                    f"personalize = 'finetune' needs a learner whose batch-stream position can be "
                    f"set (a samples_drawn property); {type(inner).__name__} has none"
                )
            self._manifest, self._head_names = full, ()
            self._body_size = full.size
        self._steps = finetune_steps
        self._from = finetune_from

    # -- Learner protocol ------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """What is gossiped: the body's manifest (mode "head") or the full model's ("finetune")."""
        return self._manifest

    def initial_params(self) -> np.ndarray:
        """The federation-wide initial body (mode "head") or model ("finetune")."""
        return self._inner.initial_params()[: self._body_size].copy()

    def train(self, params: np.ndarray, steps: int) -> tuple[np.ndarray, TrainStats]:
        """Train locally; mode "head": the full model from (params, own head), keep the new head."""
        if self._mode == "finetune":
            return self._inner.train(params, steps)
        new, stats = self._inner.train(self.personal_params(params), steps)
        self._head = new[self._body_size :].copy()
        return new[: self._body_size].copy(), stats

    def evaluate(self, params: np.ndarray, split: Split) -> EvalStats:
        """Loss and accuracy of this node's personalised model built from the shared `params`."""
        return self._inner.evaluate(self._personal(params), split)

    def predict(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predicted class (int64) of each row of `X` under this node's personalised model."""
        return self._inner.predict(self._personal(params), X)

    # -- personalisation -------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """The personalisation mode: "head" or "finetune" (see the module docstring)."""
        return self._mode

    @property
    def head_layers(self) -> tuple[str, ...]:
        """Names of the local layers (mode "head"; empty for "finetune")."""
        return self._head_names

    @property
    def inner(self) -> Learner:
        """The wrapped learner (its manifest is the full model's)."""
        return self._inner

    def personal_params(self, params: np.ndarray) -> np.ndarray:
        """The full model vector (inner learner's manifest) this node uses for the shared `params`."""
        return self._personal(params).copy()

    def _personal(self, params: np.ndarray) -> np.ndarray:
        params = _vector(params, self._body_size, "params")
        if self._mode == "head":
            assert self._head is not None
            return np.concatenate((params, self._head))
        return self._finetuned(params)

    def _finetuned(self, params: np.ndarray) -> np.ndarray:
        if self._steps == 0:
            return params
        key = hashlib.blake2b(params.tobytes(), digest_size=16).digest()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        inner: Any = self._inner
        position = inner.samples_drawn
        saved = inner.state_arrays() if hasattr(inner, "state_arrays") else None
        try:
            if saved is not None:
                inner.load_state_arrays({})  # fine-tune with fresh optimiser state, every time
            inner.samples_drawn = self._from
            tuned, _ = inner.train(params, self._steps)
        finally:
            inner.samples_drawn = position
            if saved is not None:
                inner.load_state_arrays(saved)
        tuned.setflags(write=False)
        self._cache = (key, tuned)
        return tuned

    # -- local state -----------------------------------------------------------------------

    def local_state(self) -> np.ndarray:
        """This node's private head (mode "head"; an empty vector for "finetune")."""
        if self._head is None:
            return np.zeros(0, dtype=PARAM_DTYPE)
        return self._head.copy()

    def load_local_state(self, arr: np.ndarray) -> None:
        """Restore what `local_state` returned (mode "head"); ValueError if it does not fit."""
        a = np.asarray(arr)
        if self._head is None:
            if a.size:
                raise ValueError("personalize = 'finetune' keeps no local state, got a non-empty vector")
            return
        a = _vector(a, self._full_size - self._body_size, "local head")
        if not np.isfinite(a).all():
            raise ValueError("local head holds NaN or infinite values")
        self._head = a.copy()

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The inner learner's optimiser state plus the local head (key ``"personal_head"``)."""
        inner: Any = self._inner
        out = dict(inner.state_arrays()) if hasattr(inner, "state_arrays") else {}
        if self._head is not None:
            out[HEAD_STATE_KEY] = self._head.copy()
        return out

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore what `state_arrays` returned; a missing head keeps the initial head."""
        rest = dict(arrays)
        head = rest.pop(HEAD_STATE_KEY, None)
        if head is not None and self._head is not None:
            self.load_local_state(head)
        elif head is not None:
            log.info("ignoring a saved personal head: personalize is not 'head'")
        inner: Any = self._inner
        if hasattr(inner, "load_state_arrays"):
            inner.load_state_arrays(rest)
        elif rest:
            raise ValueError(f"{type(inner).__name__} keeps no optimiser state; got {', '.join(sorted(rest))}")

    @property
    def samples_drawn(self) -> int:
        """The inner learner's batch-stream position (training only; evaluation restores it)."""
        return int(getattr(self._inner, "samples_drawn", 0))

    @samples_drawn.setter
    def samples_drawn(self, value: int) -> None:
        if hasattr(self._inner, "samples_drawn"):
            self._inner.samples_drawn = value  # type: ignore[attr-defined]

    @property
    def n_train(self) -> int:
        """Local training samples of the inner learner."""
        return int(getattr(self._inner, "n_train", 0))


def personalize(inner: Learner, mode: str, head_layers: int = 1, finetune_steps: int = 20) -> Learner:
    """`inner` itself for mode "none", else a `PersonalLearner` around it.

    ``personalize(learner, cfg.personalize, cfg.head_layers, cfg.finetune_steps)`` with a
    `ModelConfig` `cfg` is how a node or the simulator selects personalisation per run.
    """
    if mode not in MODES:
        raise ConfigError(f"model.personalize must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if mode == "none":
        return inner
    return PersonalLearner(inner, mode, head_layers=head_layers, finetune_steps=finetune_steps)
