"""BatchStream: the deterministic, resumable minibatch index stream every learner draws from."""

from __future__ import annotations

import logging
import zlib

import numpy as np

log = logging.getLogger(__name__)


def node_seed(node_id: str, base: int = 0) -> int:
    """A node's stable seed (its batch stream, its core's RNG): the same in every process, unlike hash()."""
    return (zlib.crc32(node_id.encode()) ^ base) & 0x7FFFFFFF


def seed_word(seed: int) -> int:
    """Any Python int (negative too) as the non-negative entropy numpy's SeedSequence wants."""
    return int(seed) % (1 << 64)


class BatchStream:
    """Minibatch indices into `n` training rows, drawn as consecutive slices of shuffled epochs.

    Epoch ``e`` is the permutation ``default_rng([word(train_seed), word(seed), e]).permutation(n)``
    and batches of ``min(batch_size, n)`` indices are cut from the concatenated epochs, so a
    batch that straddles an epoch boundary takes the tail of one epoch and the head of the next.
    The stream therefore depends only on the seeds and `samples_drawn`, which is settable: a node
    that persisted it resumes exactly where it stopped after a restart.

    Learners share this class, so a numpy learner and a torch learner with equal seeds train on
    exactly the same batches.
    """

    def __init__(self, n: int, batch_size: int, train_seed: int = 0, seed: int = 0) -> None:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self._n = int(n)
        self._bs = min(int(batch_size), self._n)
        self._seed_words = (seed_word(train_seed), seed_word(seed))
        self._samples_drawn = 0
        self._perms: dict[int, np.ndarray] = {}

    @property
    def n(self) -> int:
        """Number of rows the indices point into."""
        return self._n

    @property
    def batch_size(self) -> int:
        """Rows per batch: the configured batch size capped at `n` (0 when there are no rows)."""
        return self._bs

    @property
    def samples_drawn(self) -> int:
        """Position in the stream (indices handed out so far)."""
        return self._samples_drawn

    @samples_drawn.setter
    def samples_drawn(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"samples_drawn must be a non-negative integer, got {value!r}")
        self._samples_drawn = int(value)

    def next_batch(self) -> np.ndarray:
        """int64 indices of the next batch (treat as read-only: it may be a view of a cached epoch)."""
        if self._n == 0:
            raise ValueError("no training rows: there is no batch to draw")
        n, bs = self._n, self._bs
        epoch, off = divmod(self._samples_drawn, n)
        self._samples_drawn += bs
        perm = self._permutation(epoch)
        if off + bs <= n:
            return perm[off : off + bs]
        return np.concatenate((perm[off:], self._permutation(epoch + 1)[: off + bs - n]))

    def next_batches(self, steps: int) -> np.ndarray:
        """The next `steps` batches at once, as a fresh ``(steps, batch_size)`` int64 array."""
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        if self._n == 0 and steps:
            raise ValueError("no training rows: there is no batch to draw")
        total = int(steps) * self._bs
        if total == 0:
            return np.empty((int(steps), self._bs), dtype=np.int64)
        # consecutive batches are consecutive slices of the concatenated epochs
        start = self._samples_drawn
        first, last = start // self._n, (start + total - 1) // self._n
        perms = [self._permutation(e) for e in range(first, last + 1)]
        stream = perms[0] if len(perms) == 1 else np.concatenate(perms)
        off = start - first * self._n
        self._samples_drawn = start + total
        return stream[off : off + total].reshape(int(steps), self._bs).copy()

    def _permutation(self, epoch: int) -> np.ndarray:
        perm = self._perms.get(epoch)
        if perm is None:
            rng = np.random.default_rng([*self._seed_words, epoch])
            perm = rng.permutation(self._n).astype(np.int64)
            self._perms = {k: v for k, v in self._perms.items() if k >= epoch - 1}
            self._perms[epoch] = perm
        return perm
