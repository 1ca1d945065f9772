"""TorchLearner: local minibatch SGD and evaluation of a model given as a flat float32 vector."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from p2pfed.learning.batches import BatchStream
from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.learning.base import LearnerBase
from p2pfed.learning.checks import check_optimiser
from p2pfed.learning.models import arch_string, build_model, manifest_of
from p2pfed.types import EvalStats, LocalData, Split, TrainStats

log = logging.getLogger(__name__)

#: Rows per forward pass in `evaluate` and `predict` (bounds memory on big splits).
EVAL_BATCH = 4096


class TorchLearner(LearnerBase):
    """Implements the `Learner` protocol with PyTorch on one node's private data.

    The model's parameters live as views into one flat float32 buffer, so loading a vector,
    reading it back and the SGD update are single vector operations. SGD (with optional
    momentum and weight decay, same maths as ``torch.optim.SGD`` without dampening) runs on
    minibatches of ``min(batch_size, n_train)`` drawn from a `p2pfed.learning.batches.BatchStream`:
    shuffled epochs, epoch ``e`` a permutation seeded by ``(cfg.train_seed, seed, e)``, so the
    batch stream depends only on the seeds and `samples_drawn` (settable, to resume the stream
    after a restart).

    `threads` sets torch's intra-op thread count, which is process-wide.
    """

    def __init__(
        self, cfg: ModelConfig, data: LocalData, seed: int = 0, threads: int | None = None
    ) -> None:
        check_optimiser(cfg)
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ConfigError(f"threads must be a positive integer, got {threads!r}")
            torch.set_num_threads(threads)
        self._cfg = cfg
        self._input_shape = data.input_shape
        self._n_classes = int(data.n_classes)
        self._model = build_model(cfg, self._input_shape, self._n_classes)
        self._manifest = manifest_of(
            self._model, arch_string(cfg, self._input_shape, self._n_classes)
        )
        self._forward = _fast_forward(self._model, self._input_shape)
        self._flat, self._grad = _flatten_parameters(self._model)
        self._flat_np = self._flat.numpy()  # shares memory with the parameters
        self._initial = self._flat_np.copy()
        self._initial.setflags(write=False)

        self._X, self._y = self._tensors(data.train, "train")
        self._n = int(self._y.shape[0])
        self._stream = BatchStream(self._n, cfg.batch_size, cfg.train_seed, seed)
        self._bs = self._stream.batch_size
        self._xb = torch.empty((self._bs, *self._input_shape), dtype=torch.float32)
        self._yb = torch.empty((self._bs,), dtype=torch.int64)
        self._buf = torch.zeros_like(self._flat) if cfg.momentum > 0 else None

    # -- Learner protocol (manifest and initial_params: LearnerBase) -------------------------

    def train(self, params: np.ndarray, steps: int) -> tuple[np.ndarray, TrainStats]:
        """Run `steps` SGD steps from `params` on the local train split; return a new vector."""
        self._load(params)
        steps = self._steps_to_run(steps)
        if steps == 0:
            return self._flat_np.copy(), TrainStats(steps=0, samples=0, loss=math.nan)

        cfg, forward, flat, grad, buf = self._cfg, self._forward, self._flat, self._grad, self._buf
        X, y, xb, yb = self._X, self._y, self._xb, self._yb
        lr, wd, mom = cfg.lr, cfg.weight_decay, cfg.momentum
        total = 0.0
        for _ in range(steps):
            idx = torch.from_numpy(self._next_batch())
            torch.index_select(X, 0, idx, out=xb)
            torch.index_select(y, 0, idx, out=yb)
            grad.zero_()
            loss = F.cross_entropy(forward(xb), yb)
            loss.backward()
            # flat, grad and buf are plain tensors outside autograd: update them in place
            if wd:
                grad.add_(flat, alpha=wd)
            if buf is not None:
                buf.mul_(mom).add_(grad)
                flat.add_(buf, alpha=-lr)
            else:
                flat.add_(grad, alpha=-lr)
            total += loss.item()
        out = self._flat_np.copy()
        mean_loss = total / steps
        if not math.isfinite(mean_loss) or not np.isfinite(out).all():
            log.warning(
                "training diverged (loss %s); consider a smaller model.lr (now %s)", mean_loss, lr
            )
        return out, TrainStats(steps=steps, samples=steps * self._bs, loss=mean_loss)

    def evaluate(self, params: np.ndarray, split: Split) -> EvalStats:
        """Mean cross-entropy loss and accuracy of `params` on `split` (nan, nan, 0 if empty)."""
        self._load(params)
        X, y = self._tensors(split, "evaluation")
        n = int(y.shape[0])
        if n == 0:
            return EvalStats(loss=math.nan, accuracy=math.nan, n=0)
        loss_sum = 0.0
        correct = 0
        with torch.no_grad():
            for start in range(0, n, EVAL_BATCH):
                xs, ys = X[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH]
                logits = self._model(xs)
                loss_sum += F.cross_entropy(logits, ys, reduction="sum").item()
                correct += int((logits.argmax(dim=1) == ys).sum().item())
        return EvalStats(loss=loss_sum / n, accuracy=correct / n, n=n)

    def predict(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predicted class (int64 argmax of the logits) of every row of `X` under `params`."""
        self._load(params)
        Xt = _tensor(self._check_features(X, "prediction"), np.float32)
        out = np.empty(Xt.shape[0], dtype=np.int64)
        with torch.no_grad():
            for start in range(0, Xt.shape[0], EVAL_BATCH):
                logits = self._model(Xt[start : start + EVAL_BATCH])
                out[start : start + logits.shape[0]] = logits.argmax(dim=1).numpy()
        return out

    # -- optimiser state and batch stream: LearnerBase -----------------------------------------

    def _momentum(self) -> np.ndarray | None:
        return None if self._buf is None else self._buf.numpy()

    # -- helpers -----------------------------------------------------------------------------

    def _next_batch(self) -> np.ndarray:
        """Indices of the next minibatch: consecutive slices of per-epoch permutations."""
        return self._stream.next_batch()

    def _load(self, params: np.ndarray) -> None:
        self._flat_np[...] = self._check_vector(params, "params")

    def _tensors(self, split: Split, what: str) -> tuple[torch.Tensor, torch.Tensor]:
        X, y = self._check_split(split, what)
        return _tensor(X, np.float32), _tensor(y, np.int64)


def _fast_forward(
    model: torch.nn.Module, input_shape: tuple[int, ...]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`model`'s forward without per-module hook dispatch (a measurable cost on tiny MLPs).

    For an ``nn.Sequential`` the layers' ``forward`` methods are chained directly, dropping a
    Flatten that would be a no-op on 1-D samples; any other module is called as usual.
    """
    if not isinstance(model, torch.nn.Sequential):
        return model
    steps = [
        m.forward
        for m in model
        if not (isinstance(m, torch.nn.Flatten) and len(input_shape) == 1 and m.start_dim == 1)
    ]

    def forward(x: torch.Tensor) -> torch.Tensor:
        for step in steps:
            x = step(x)
        return x

    return forward


def _flatten_parameters(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-home every parameter (and its gradient) as a view into one flat float32 buffer."""
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    flat = torch.empty(total, dtype=torch.float32)
    grad = torch.zeros(total, dtype=torch.float32)
    offset = 0
    with torch.no_grad():
        for p in params:
            k = p.numel()
            flat[offset : offset + k].copy_(p.reshape(-1))
            p.data = flat[offset : offset + k].view_as(p)
            p.grad = grad[offset : offset + k].view_as(p)
            offset += k
    return flat, grad


def _tensor(a: np.ndarray, dtype: type[np.generic]) -> torch.Tensor:
    """Zero-copy tensor of `a` when it already is a writable C-contiguous `dtype` array."""
    if a.dtype != dtype or not a.flags.c_contiguous or not a.flags.writeable:
        a = np.array(a, dtype=dtype, order="C")
    return torch.from_numpy(a)
