"""NumpyMLPLearner: TorchLearner's MLP and SGD in pure numpy, batched across many nodes for the simulator."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from p2pfed.learning.batches import BatchStream, seed_word
from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.learning.base import LearnerBase
from p2pfed.types import PARAM_DTYPE, EvalStats, LocalData, Manifest, Split, TrainStats

log = logging.getLogger(__name__)

#: Must equal `p2pfed.learning.models.ARCH_VERSION` (the arch string, hence the schema hash, contains it);
#: tests/test_nplearn.py checks both agree. Kept here so this module never imports torch.
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


@dataclass(frozen=True)
class _Layer:
    """One Linear layer's place in the flat vector: weight (fan_out, fan_in) at `w`, bias at `b`."""

    w: int
    b: int
    fan_out: int
    fan_in: int


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


def _layout(manifest: Manifest) -> tuple[_Layer, ...]:
    layers, offset = [], 0
    shapes = manifest.shapes
    for i in range(0, len(shapes), 2):
        fan_out, fan_in = shapes[i]
        layers.append(_Layer(offset, offset + fan_out * fan_in, fan_out, fan_in))
        offset += fan_out * fan_in + fan_out
    return tuple(layers)


def _check_config(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> None:
    """TorchLearner's and p2pfed.learning.models' checks, with the same messages."""
    if cfg.kind != "mlp":
        raise ConfigError(
            f"NumpyMLPLearner only runs model.kind 'mlp', got {cfg.kind!r}; use TorchLearner for it"
        )
    if isinstance(cfg.batch_size, bool) or not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ConfigError(f"model.batch_size must be a positive integer, got {cfg.batch_size!r}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ConfigError(f"model.lr must be a positive number, got {cfg.lr!r}")
    if not 0 <= cfg.momentum < 1:
        raise ConfigError(f"model.momentum must be in [0, 1), got {cfg.momentum!r}")
    if not (math.isfinite(cfg.weight_decay) and cfg.weight_decay >= 0):
        raise ConfigError(f"model.weight_decay must be >= 0, got {cfg.weight_decay!r}")
    if not input_shape or any(int(d) <= 0 for d in input_shape):
        raise ConfigError(f"model input shape must be non-empty with positive sizes, got {input_shape}")
    if n_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got n_classes={n_classes}")
    if any(int(h) <= 0 for h in cfg.hidden):
        raise ConfigError(f"model.hidden sizes must all be positive, got {list(cfg.hidden)}")


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
        self._layers = _layout(self._manifest)
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

    # -- Learner protocol ------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def initial_params(self) -> np.ndarray:
        """The federation-wide initial model (depends only on the model config and data shapes)."""
        return self._initial.copy()

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
            lse = _logsumexp(logits)  # (k, r)
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
                yield ks, rs, _forward_shared(self._layers, P[ks], X[rs])

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
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        steps = int(steps)
        if steps == 0 or learner._n == 0:
            if steps and not learner._n:
                log.debug("no local training data: skipping %d steps", steps)
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


class _Workspace:
    """Scratch arrays of `_train_group`, kept between calls (one set per thread).

    Training allocates the same few large arrays call after call; fresh ones of that size come
    straight from the OS as untouched pages, and faulting them in cost more than the arithmetic.
    Arrays are sized for the largest group seen and handed out as leading-axis views.
    """

    def __init__(self) -> None:
        self._arrays: dict[tuple[str, tuple[int, ...], str], np.ndarray] = {}

    def get(self, name: str, K: int, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        key = (name, shape, np.dtype(dtype).str)
        arr = self._arrays.get(key)
        if arr is None or arr.shape[0] < K:
            arr = self._arrays[key] = np.empty((K, *shape), dtype)
        return arr[:K]


_workspaces = threading.local()


def _workspace() -> _Workspace:
    ws = getattr(_workspaces, "ws", None)
    if ws is None:
        ws = _workspaces.ws = _Workspace()
    return ws


def _train_group(
    learners: Sequence[NumpyMLPLearner], params: Sequence[np.ndarray], steps: int
) -> tuple[list[np.ndarray], list[float], list[bool]]:
    """`steps` SGD steps of K learners sharing architecture, batch size and optimiser settings.

    Returns the new vectors, the mean losses and whether each result is finite.

    Works in a compute layout: each weight stored transposed, (fan_in, fan_out), so the two big
    products per layer, ``a @ W.T`` and the weight gradient, run on C-contiguous operands (twice
    as fast in numpy as the transposed views). Elementwise updates do not depend on the layout.
    """
    first = learners[0]
    layers, bs = first._layers, first._bs
    lr, mom, wd = first._hyper
    K, d, size = len(learners), first._X.shape[1], first._size
    last = len(layers) - 1
    C = layers[last].fan_out
    ws = _workspace()
    stacked = np.stack(params, out=ws.get("stacked", K, (size,)))
    P = _transpose_weights(layers, stacked, True, ws.get("P", K, (size,)))  # updated in place
    M = None  # momentum buffers, same layout
    if first._buf is not None:
        bufs = np.stack([lrn._buf for lrn in learners], out=stacked)  # type: ignore[misc]
        M = _transpose_weights(layers, bufs, True, ws.get("M", K, (size,)))
    G = ws.get("G", K, (size,))
    Xs = ws.get("X", K, (steps, bs, d))
    ys = ws.get("y", K, (steps, bs), np.int64)
    for k, lrn in enumerate(learners):
        idx = lrn._stream.next_batches(steps)
        np.take(lrn._X, idx, axis=0, out=Xs[k], mode="clip")  # idx is in range; "clip" avoids a buffer
        np.take(lrn._y, idx, axis=0, out=ys[k], mode="clip")
    W = [P[:, la.w : la.b].reshape(K, la.fan_in, la.fan_out) for la in layers]
    b = [P[:, None, la.b : la.b + la.fan_out] for la in layers]
    GW = [G[:, la.w : la.b].reshape(K, la.fan_in, la.fan_out) for la in layers]
    Gb = [G[:, la.b : la.b + la.fan_out] for la in layers]
    # flat index of each row's label in a (K, B, C) array, for every step at once
    label_at = ws.get("label_at", K, (steps, bs), np.int64)
    np.add((np.arange(K * bs, dtype=np.int64) * C).reshape(K, 1, bs), ys, out=label_at)
    loss_terms = ws.get("loss", K, (steps, bs))  # per-row cross-entropy, reduced once at the end
    inv_bs = _F32(1.0) / _F32(bs)
    # activations, ReLU masks and gradients: one buffer per layer, reused by every step
    hidden = [ws.get(f"h{i}", K, (bs, la.fan_out)) for i, la in enumerate(layers[:last])]
    mask = [ws.get(f"m{i}", K, (bs, la.fan_out), np.bool_) for i, la in enumerate(layers[:last])]
    dhidden = [ws.get(f"dh{i}", K, (bs, la.fan_in)) for i, la in enumerate(layers[1:])]
    logits = ws.get("logits", K, (bs, C))
    e = ws.get("e", K, (bs, C))
    for t in range(steps):
        a = Xs[:, t]
        acts = [a]
        for li in range(last):
            z = hidden[li]
            np.matmul(a, W[li], out=z)
            z += b[li]
            np.greater(z, 0, out=mask[li])
            np.maximum(z, 0, out=z)
            acts.append(z)
            a = z
        np.matmul(a, W[last], out=logits)
        logits += b[last]
        # softmax cross-entropy: loss = lse - z[y]; d loss / d logits = (softmax - onehot) / B
        logits -= logits.max(axis=2, keepdims=True)  # shift for a stable exp (cancels in both)
        np.exp(logits, out=e)
        s = e.sum(axis=2, keepdims=True)
        at = label_at[:, t].reshape(-1)
        np.subtract(np.log(s[..., 0]), logits.reshape(-1)[at].reshape(K, bs), out=loss_terms[:, t])
        e /= s
        e.reshape(-1)[at] -= 1
        e *= inv_bs
        dz = e
        for li in range(last, -1, -1):
            np.matmul(acts[li].transpose(0, 2, 1), dz, out=GW[li])
            np.sum(dz, axis=1, out=Gb[li])
            if li:
                da = dhidden[li - 1]
                np.matmul(dz, W[li].transpose(0, 2, 1), out=da)
                da *= mask[li - 1]
                dz = da
        if wd:
            G += wd * P
        if M is not None:
            M *= mom
            M += G
            G[...] = M
        G *= lr
        P -= G
    losses = loss_terms.sum(axis=(1, 2), dtype=np.float64) / (steps * bs)
    if M is not None:
        M = _transpose_weights(layers, M, False, stacked)
        for k, lrn in enumerate(learners):
            lrn._buf[...] = M[k]  # type: ignore[index]
    out = _transpose_weights(layers, P, False, stacked)
    finite = np.isfinite(out).all(axis=1) & np.isfinite(losses)
    # copies: the results become node models and must not pin (or share) the scratch arrays
    return [out[k].copy() for k in range(K)], losses.tolist(), finite.tolist()


def _transpose_weights(layers: tuple[_Layer, ...], src: np.ndarray, to_compute: bool, out: np.ndarray) -> np.ndarray:
    """(K, size) vectors between the manifest layout and the compute layout (every weight transposed)."""
    K = src.shape[0]
    for la in layers:
        a, b = (la.fan_out, la.fan_in) if to_compute else (la.fan_in, la.fan_out)
        out[:, la.w : la.b].reshape(K, b, a)[...] = src[:, la.w : la.b].reshape(K, a, b).transpose(0, 2, 1)
        out[:, la.b : la.b + la.fan_out] = src[:, la.b : la.b + la.fan_out]
    return out


def _linear(a: np.ndarray, P: np.ndarray, layer: _Layer) -> np.ndarray:
    """a @ W.T + b for every model: a (K, B, fan_in) -> (K, B, fan_out)."""
    K = P.shape[0]
    w = P[:, layer.w : layer.b].reshape(K, layer.fan_out, layer.fan_in)
    z = np.matmul(a, w.transpose(0, 2, 1))
    z += P[:, None, layer.b : layer.b + layer.fan_out]
    return z


def _forward_shared(layers: tuple[_Layer, ...], P: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Logits (K, n, classes) of K models on the same rows X (n, d).

    The first layer is one (n, d) @ (d, K * h) product over all K models' weights side by side.
    """
    K, n = P.shape[0], X.shape[0]
    first = layers[0]
    W = P[:, first.w : first.b].reshape(K * first.fan_out, first.fan_in)
    z = (X @ W.T).reshape(n, K, first.fan_out).transpose(1, 0, 2)
    z = z + P[:, None, first.b : first.b + first.fan_out]  # (K, n, h), C-contiguous
    for layer in layers[1:]:
        np.maximum(z, 0, out=z)
        z = _linear(z, P, layer)
    return z


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return np.log(np.exp(z - m).sum(axis=-1)) + m[..., 0]
