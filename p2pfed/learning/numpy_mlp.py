"""NumpyMLPLearner: TorchLearner's MLP and SGD in pure numpy, batched across many nodes for the simulator."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np

from p2pfed.learning.batches import BatchStream, seed_word
from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.learning.base import LearnerBase
from p2pfed.learning.checks import check_optimiser, check_shapes
from p2pfed.learning.numpy_kernels import forward_shared, layout, logsumexp, train_stacked
from p2pfed.types import PARAM_DTYPE, EvalStats, LocalData, Manifest, Split, TrainStats

log = logging.getLogger(__name__)

#: Must equal `p2pfed.learning.models.ARCH_VERSION` (the arch string, hence the schema hash, contains it);
#: tests/learning/test_numpy_mlp.py checks both agree. Kept here so this module never imports torch.
MLP_ARCH_VERSION = 1

#: Rows per forward pass in `evaluate` and `predict` (as in TorchLearner).
EVAL_BATCH = 4096

#: `train_many` trains at most this many learners in one stacked pass: enough to amortise
#: numpy's per-call overhead, few enough that their parameters stay in the CPU caches.
TRAIN_CHUNK = 32

#: ... and at most this many bytes of gathered minibatch inputs (wide inputs: smaller chunks).
TRAIN_CHUNK_BYTES = 16 << 20

#: Upper bound (float32 values) on one activation block in `evaluate_many` / `predict_many`.
EVAL_CHUNK_VALUES = 4 << 20

_F32 = np.float32


# ---------------------------------------------------------------------------------------------
# Architecture: the same arch string, manifest and initial vector as p2pfed.learning.models for "mlp"
# ---------------------------------------------------------------------------------------------


def mlp_arch(hidden: Sequence[int], input_shape: tuple[int, ...], n_classes: int) -> str:
    """The arch string `p2pfed.learning.models.arch_string` gives an "mlp" (part of the schema hash)."""
    shape = "x".join(str(int(d)) for d in input_shape)
    return (
        f"mlp/v{MLP_ARCH_VERSION}(in={shape};hidden=[{','.join(str(int(h)) for h in hidden)}];"
        f"act=relu;out={int(n_classes)})"
    )


def mlp_manifest(hidden: Sequence[int], input_shape: tuple[int, ...], n_classes: int) -> Manifest:
    """Manifest of the MLP: ``fc1.weight, fc1.bias, ..., out.weight, out.bias`` in that order."""
    names: list[str] = []
    shapes: list[tuple[int, ...]] = []
    width = int(np.prod(input_shape))
    for i, h in enumerate(hidden, start=1):
        names += [f"fc{i}.weight", f"fc{i}.bias"]
        shapes += [(int(h), width), (int(h),)]
        width = int(h)
    names += ["out.weight", "out.bias"]
    shapes += [(int(n_classes), width), (int(n_classes),)]
    return Manifest(
        names=tuple(names),
        shapes=tuple(shapes),
        arch=mlp_arch(hidden, input_shape, n_classes),
        dtype=PARAM_DTYPE.str,
    )


def mlp_initial_params(manifest: Manifest, init_seed: int) -> np.ndarray:
    """The federation-wide initial vector, drawn exactly as `p2pfed.learning.models.init_parameters` does.

    One PCG64 stream seeded by `init_seed`; per layer in order, the weight then the bias, each
    uniform in +-1/sqrt(fan_in), drawn in float64 and rounded to float32.
    """
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed_word(init_seed))))
    parts = []
    for shape in manifest.shapes:
        if len(shape) == 2:
            fan_in = int(shape[1])
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        parts.append(rng.uniform(-bound, bound, size=shape).astype(np.float32).reshape(-1))
    return np.concatenate(parts).astype(PARAM_DTYPE)


def _check_config(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> None:
    """TorchLearner's and p2pfed.learning.models' checks (the same functions, so the same messages)."""
    if cfg.kind != "mlp":
        raise ConfigError(
            f"NumpyMLPLearner only runs model.kind 'mlp', got {cfg.kind!r}; use TorchLearner for it"
        )
    check_optimiser(cfg)
    check_shapes(cfg, input_shape, n_classes)


# ---------------------------------------------------------------------------------------------
# The learner
# ---------------------------------------------------------------------------------------------


class NumpyMLPLearner(LearnerBase):
    """Implements the `Learner` protocol for ``model.kind == "mlp"`` in numpy float32.

    Interchangeable with `p2pfed.learning.torch_learner.TorchLearner` for an MLP: the same manifest (so the same
    schema hash: numpy and torch nodes gossip together), the same initial vector, the same
    minibatch stream (`p2pfed.learning.batches.BatchStream` with the same seeds), and the same SGD
    (cross-entropy on ReLU layers; ``g += weight_decay * x``, ``buf = momentum * buf + g``,
    ``x -= lr * buf``, the first buffer being the first gradient). Results agree with torch to
    float32 rounding (BLAS kernels sum in different orders), not bit for bit.

    Its point is speed for the simulator: no autograd or dispatcher overhead, and
    `train_many` trains many nodes' models in one pass of stacked matmuls.
    Other kinds raise ConfigError: use TorchLearner for those.
    """

    def __init__(self, cfg: ModelConfig, data: LocalData, seed: int = 0) -> None:
        self._input_shape = tuple(int(d) for d in data.input_shape)
        self._n_classes = int(data.n_classes)
        _check_config(cfg, self._input_shape, self._n_classes)
        self._cfg = cfg
        self._manifest = mlp_manifest(cfg.hidden, self._input_shape, self._n_classes)
        self._layers = layout(self._manifest)
        self._size = self._manifest.size
        self._initial = mlp_initial_params(self._manifest, cfg.init_seed)
        self._initial.setflags(write=False)
        self._n_in = int(np.prod(self._input_shape))
        X, y = self._split_arrays(data.train, "train")
        self._X = np.ascontiguousarray(X.reshape(X.shape[0], self._n_in), dtype=np.float32)
        self._y = np.ascontiguousarray(y, dtype=np.int64)
        self._n = int(self._y.shape[0])
        self._stream = BatchStream(self._n, cfg.batch_size, cfg.train_seed, seed)
        self._bs = self._stream.batch_size
        self._buf = np.zeros(self._size, np.float32) if cfg.momentum > 0 else None
        self._hyper = (_F32(cfg.lr), _F32(cfg.momentum), _F32(cfg.weight_decay))

    # -- Learner protocol (manifest and initial_params: LearnerBase) -------------------------

    def train(self, params: np.ndarray, steps: int) -> tuple[np.ndarray, TrainStats]:
        """Run `steps` SGD steps from `params` on the local train split; return a new vector."""
        return train_many([(self, params, steps)])[0]

    def evaluate(self, params: np.ndarray, split: Split) -> EvalStats:
        """Mean cross-entropy loss and accuracy of `params` on `split` (nan, nan, 0 if empty)."""
        return self.evaluate_many(self._check_vector(params, "params")[None, :], split)[0]

    def predict(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predicted class (int64 argmax of the logits) of every row of `X` under `params`."""
        return self.predict_many(self._check_vector(params, "params")[None, :], X)[0]

    # -- many models on one split ----------------------------------------------------------

    def evaluate_many(self, params: np.ndarray | Sequence[np.ndarray], split: Split) -> list[EvalStats]:
        """`evaluate` of each of K models (a (K, size) array or K vectors) on one shared split.

        Much faster than K calls: the first layer of a block of models is one matrix product of
        the split against all their weights side by side.
        """
        P = self._stack(params)
        X, y = self._split_arrays(split, "evaluation")
        n = int(y.shape[0])
        if n == 0:
            return [EvalStats(loss=math.nan, accuracy=math.nan, n=0) for _ in range(P.shape[0])]
        X = X.reshape(n, self._n_in)
        y = y.astype(np.int64, copy=False)
        loss = np.zeros(P.shape[0], np.float64)
        correct = np.zeros(P.shape[0], np.int64)
        for ks, rs, logits in self._blocks(P, X):
            yr = y[rs]
            lse = logsumexp(logits)  # (k, r)
            picked = np.take_along_axis(logits, np.broadcast_to(yr[None, :, None], (*logits.shape[:2], 1)), 2)
            loss[ks] += (lse - picked[..., 0]).sum(axis=1, dtype=np.float64)
            correct[ks] += (logits.argmax(axis=2) == yr[None, :]).sum(axis=1)
        return [
            EvalStats(loss=float(loss[k] / n), accuracy=float(correct[k] / n), n=n) for k in range(P.shape[0])
        ]

    def predict_many(self, params: np.ndarray | Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
        """`predict` of each of K models on the same rows: a (K, n) int64 array."""
        P = self._stack(params)
        X = self._features(X, "prediction")
        X = X.reshape(X.shape[0], self._n_in)
        out = np.empty((P.shape[0], X.shape[0]), np.int64)
        for ks, rs, logits in self._blocks(P, X):
            out[ks, rs] = logits.argmax(axis=2)
        return out

    # -- optimiser state and batch stream: LearnerBase -----------------------------------------

    def _momentum(self) -> np.ndarray | None:
        return self._buf

    # -- helpers -----------------------------------------------------------------------------

    def _stack(self, params: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """K parameter vectors as one C-contiguous (K, size) float32 array."""
        if isinstance(params, np.ndarray) and params.ndim == 2:
            if params.dtype != PARAM_DTYPE:
                raise ValueError(f"params must have dtype float32 ('<f4'), got {params.dtype.str!r}")
            if params.shape[1] != self._size:
                raise ValueError(
                    f"params has shape {params.shape}; model {self._manifest.arch} needs (K, {self._size})"
                )
            return np.ascontiguousarray(params)
        if isinstance(params, np.ndarray):
            raise ValueError(
                f"params must be a (K, {self._size}) array or a list of vectors, got shape {params.shape}"
            )
        vectors = [self._check_vector(p, "params") for p in params]
        return np.stack(vectors) if vectors else np.zeros((0, self._size), np.float32)

    def _blocks(self, P: np.ndarray, X: np.ndarray) -> Iterator[tuple[slice, slice, np.ndarray]]:
        """Yield (model slice, row slice, logits (k, r, classes)) covering all models and rows."""
        n, K = X.shape[0], P.shape[0]
        widest = max(max(layer.fan_out for layer in self._layers), 1)
        rows = min(EVAL_BATCH, max(n, 1))
        per = max(1, EVAL_CHUNK_VALUES // (rows * widest))
        for k0 in range(0, K, per):
            ks = slice(k0, min(K, k0 + per))
            for r0 in range(0, n, rows):
                rs = slice(r0, min(n, r0 + rows))
                yield ks, rs, forward_shared(self._layers, P[ks], X[rs])

    def _features(self, X: object, what: str) -> np.ndarray:
        return self._check_features(X, what).astype(np.float32, copy=False)

    def _split_arrays(self, split: Split, what: str) -> tuple[np.ndarray, np.ndarray]:
        X, y = self._check_split(split, what)
        return X.astype(np.float32, copy=False), y


# ---------------------------------------------------------------------------------------------
# Batched training
# ---------------------------------------------------------------------------------------------


def train_many(
    jobs: Sequence[tuple[NumpyMLPLearner, np.ndarray, int]],
) -> list[tuple[np.ndarray, TrainStats]]:
    """Train many learners at once: job ``(learner, params, steps)`` -> ``learner.train(params, steps)``.

    Each learner keeps its own data, batch stream and momentum buffer; the results equal calling
    each learner's `train` in turn (to float32 rounding: only the BLAS blocking may differ).
    Learners with the same architecture, batch size, step count and optimiser settings train
    together, one stacked matmul ``(K, B, d) @ (K, d, h)`` per layer and step. A learner may
    appear only once per call (its batch stream and momentum are sequential state).
    """
    seen: set[int] = set()
    results: list[tuple[np.ndarray, TrainStats] | None] = [None] * len(jobs)
    groups: dict[tuple[object, ...], list[int]] = {}
    diverged: list[tuple[float, float]] = []
    for j, job in enumerate(jobs):
        learner, params, steps = job
        if not isinstance(learner, NumpyMLPLearner):
            raise TypeError(f"train_many takes NumpyMLPLearner jobs, got {type(learner).__name__}")
        if id(learner) in seen:
            raise ValueError(
                "a learner appears more than once in train_many's jobs; train it in separate calls"
            )
        seen.add(id(learner))
        learner._check_vector(params, "params")
        steps = learner._steps_to_run(steps)
        if steps == 0:
            results[j] = (params.copy(), TrainStats(steps=0, samples=0, loss=math.nan))
            continue
        key = (learner._layers, learner._bs, steps, learner._hyper, learner._buf is not None)
        groups.setdefault(key, []).append(j)

    for idx in groups.values():
        first = jobs[idx[0]][0]
        steps = int(jobs[idx[0]][2])
        per_learner = steps * first._bs * (first._X.shape[1] * 4 + 8)
        chunk = max(1, min(TRAIN_CHUNK, TRAIN_CHUNK_BYTES // per_learner))
        for c0 in range(0, len(idx), chunk):
            part = idx[c0 : c0 + chunk]
            learners = [jobs[j][0] for j in part]
            outs, losses, finite = _train_group(learners, [jobs[j][1] for j in part], steps)
            for j, lrn, out, loss, ok in zip(part, learners, outs, losses, finite, strict=True):
                if not ok:
                    diverged.append((loss, lrn._cfg.lr))
                results[j] = (out, TrainStats(steps=steps, samples=steps * lrn._bs, loss=loss))
    if diverged:
        loss, lr = diverged[0]
        log.warning(
            "training diverged (loss %s)%s; consider a smaller model.lr (now %s)",
            loss,
            f" on {len(diverged)} of {len(jobs)} learners" if len(diverged) > 1 else "",
            lr,
        )
    return [r for r in results if r is not None]


def _train_group(
    learners: Sequence[NumpyMLPLearner], params: Sequence[np.ndarray], steps: int
) -> tuple[list[np.ndarray], list[float], list[bool]]:
    """`steps` SGD steps of K learners sharing architecture, batch size and optimiser settings.

    Returns the new vectors, the mean losses and whether each result is finite; advances each
    learner's batch stream and updates its momentum buffer (see `numpy_kernels.train_stacked`).
    """
    first = learners[0]
    momenta = None if first._buf is None else [lrn._buf for lrn in learners]
    batches = [(lrn._X, lrn._y, lrn._stream.next_batches(steps)) for lrn in learners]
    return train_stacked(first._layers, first._hyper, params, momenta, batches)  # type: ignore[arg-type]
