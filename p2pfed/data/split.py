"""Per-person train/test split, stratified by label, reproducible from (split_seed, person)."""

from __future__ import annotations

import logging
import math

import numpy as np

from p2pfed.errors import DataError

log = logging.getLogger(__name__)

_TAG = 0x5F17_0002


def person_key(person: int) -> int:
    """Map any integer person id to a non-negative seed word (ids may be negative in an npz)."""
    p = int(person)
    return 2 * p if p >= 0 else -2 * p - 1


def n_test_rows(n: int, test_fraction: float) -> int:
    """Test rows of a person with `n` rows: round(n * fraction), at least 1 if n >= 2, < n."""
    if n <= 1:
        return 0
    return min(n - 1, max(1, math.floor(n * test_fraction + 0.5)))


def split_person(
    y: np.ndarray, test_fraction: float, split_seed: int, person: int, stream: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) of one person's rows, stratified by label where possible.

    Every class gets its share of test rows (largest remainders first, ties at random), the
    test set has `n_test_rows(n, test_fraction)` rows, and at least one row stays in train.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"data.test_fraction must be in (0, 1), got {test_fraction!r}")
    if not isinstance(split_seed, int | np.integer) or isinstance(split_seed, bool) or split_seed < 0:
        raise DataError(f"data.split_seed must be a non-negative integer, got {split_seed!r}")
    n = int(y.shape[0])
    key = [_TAG, int(split_seed), stream, person_key(person)]
    rng = np.random.default_rng(np.random.SeedSequence(key))
    target = n_test_rows(n, test_fraction)
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * (target / n) if n else counts * 0.0
    take = np.floor(quota).astype(np.int64)
    rest = target - int(take.sum())
    if rest > 0:
        order = np.lexsort((rng.random(len(classes)), -(quota - take)))
        take[order[:rest]] += 1
    test_parts = []
    for c, k in zip(classes, take):
        rows = np.flatnonzero(y == c)
        test_parts.append(rng.permutation(rows)[: int(k)])
    test = np.sort(np.concatenate(test_parts)) if test_parts else np.zeros(0, np.int64)
    mask = np.ones(n, bool)
    mask[test] = False
    return np.flatnonzero(mask), test
