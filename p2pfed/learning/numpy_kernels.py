"""The numpy MLP's stacked kernels: forward passes and SGD steps of K models at once in batched matmuls."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from p2pfed.types import Manifest

_F32 = np.float32


@dataclass(frozen=True)
class Layer:
    """One Linear layer's place in the flat vector: weight (fan_out, fan_in) at `w`, bias at `b`."""

    w: int
    b: int
    fan_out: int
    fan_in: int


def layout(manifest: Manifest) -> tuple[Layer, ...]:
    """The layers of an MLP manifest (weight, bias, weight, bias, ...) in flat-vector order."""
    layers, offset = [], 0
    shapes = manifest.shapes
    for i in range(0, len(shapes), 2):
        fan_out, fan_in = shapes[i]
        layers.append(Layer(offset, offset + fan_out * fan_in, fan_out, fan_in))
        offset += fan_out * fan_in + fan_out
    return tuple(layers)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


class _Workspace:
    """Scratch arrays of `train_stacked`, kept between calls (one set per thread).

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


def train_stacked(
    layers: tuple[Layer, ...],
    hyper: tuple[np.float32, np.float32, np.float32],
    params: Sequence[np.ndarray],
    momenta: Sequence[np.ndarray] | None,
    batches: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[list[np.ndarray], list[float], list[bool]]:
    """SGD steps of K models sharing `layers` and `hyper` = (lr, momentum, weight decay), float32.

    Model k starts at ``params[k]`` and trains on ``batches[k] = (X, y, idx)``: rows ``X[idx[t]]``
    (X of shape (n, d)) with labels ``y[idx[t]]`` at step t; every idx has the same shape
    (steps, batch size), both positive. With `momenta` (one buffer per model, else None for no
    momentum) the buffers are updated in place. Returns the new vectors (fresh arrays), the mean
    losses and whether each result is finite.

    Works in a compute layout: each weight stored transposed, (fan_in, fan_out), so the two big
    products per layer, ``a @ W.T`` and the weight gradient, run on C-contiguous operands (twice
    as fast in numpy as the transposed views). Elementwise updates do not depend on the layout.
    """
    steps, bs = batches[0][2].shape
    lr, mom, wd = hyper
    K, d, size = len(params), batches[0][0].shape[1], params[0].shape[0]
    last = len(layers) - 1
    C = layers[last].fan_out
    ws = _workspace()
    stacked = np.stack(params, out=ws.get("stacked", K, (size,)))
    P = _transpose_weights(layers, stacked, True, ws.get("P", K, (size,)))  # updated in place
    M = None  # momentum buffers, same layout
    if momenta is not None:
        bufs = np.stack(momenta, out=stacked)
        M = _transpose_weights(layers, bufs, True, ws.get("M", K, (size,)))
    G = ws.get("G", K, (size,))
    Xs = ws.get("X", K, (steps, bs, d))
    ys = ws.get("y", K, (steps, bs), np.int64)
    for k, (X, y, idx) in enumerate(batches):
        np.take(X, idx, axis=0, out=Xs[k], mode="clip")  # idx is in range; "clip" avoids a buffer
        np.take(y, idx, axis=0, out=ys[k], mode="clip")
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
        for k, buf in enumerate(momenta):  # type: ignore[arg-type]
            buf[...] = M[k]
    out = _transpose_weights(layers, P, False, stacked)
    finite = np.isfinite(out).all(axis=1) & np.isfinite(losses)
    # copies: the results become node models and must not pin (or share) the scratch arrays
    return [out[k].copy() for k in range(K)], losses.tolist(), finite.tolist()


def _transpose_weights(layers: tuple[Layer, ...], src: np.ndarray, to_compute: bool, out: np.ndarray) -> np.ndarray:
    """(K, size) vectors between the manifest layout and the compute layout (every weight transposed)."""
    K = src.shape[0]
    for la in layers:
        a, b = (la.fan_out, la.fan_in) if to_compute else (la.fan_in, la.fan_out)
        out[:, la.w : la.b].reshape(K, b, a)[...] = src[:, la.w : la.b].reshape(K, a, b).transpose(0, 2, 1)
        out[:, la.b : la.b + la.fan_out] = src[:, la.b : la.b + la.fan_out]
    return out


# ---------------------------------------------------------------------------------------------
# Forward pass (evaluation and prediction)
# ---------------------------------------------------------------------------------------------


def _linear(a: np.ndarray, P: np.ndarray, layer: Layer) -> np.ndarray:
    """a @ W.T + b for every model: a (K, B, fan_in) -> (K, B, fan_out)."""
    K = P.shape[0]
    w = P[:, layer.w : layer.b].reshape(K, layer.fan_out, layer.fan_in)
    z = np.matmul(a, w.transpose(0, 2, 1))
    z += P[:, None, layer.b : layer.b + layer.fan_out]
    return z


def forward_shared(layers: tuple[Layer, ...], P: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Logits (K, n, classes) of K models (P: (K, size), manifest layout) on the same rows X (n, d).

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


def logsumexp(z: np.ndarray) -> np.ndarray:
    """log(sum(exp(z))) over the last axis, computed stably."""
    m = z.max(axis=-1, keepdims=True)
    return np.log(np.exp(z - m).sum(axis=-1)) + m[..., 0]
