"""Per-person standardization: a person's (or a node's) features scaled by their own statistics."""

from __future__ import annotations

import logging

import numpy as np

from p2pfed.errors import DataError

log = logging.getLogger(__name__)

MODES = ("auto", "person", "none")
#: A feature whose spread is at most this (relative to its size) is only centred, not scaled.
_EPS = 1e-6


def resolve_mode(mode: str, source: str) -> str:
    """Check data.standardize; "auto" -> "person" for file data (npz, uci-har), "none" for synthetic.

    Synthetic features are already scaled by fixed population priors, and per-person scaling
    would erase the between-person level differences that absolute activity classes depend on.
    """
    if mode not in MODES:
        known = ", ".join(map(repr, MODES))
        raise DataError(f"data.standardize must be one of {known}, got {mode!r}")
    if mode != "auto":
        return mode
    return "none" if source == "synthetic" else "person"


def _axes(X: np.ndarray) -> tuple[int, ...]:
    # (n, d): one statistic per feature; (n, c, t, ...): one per channel (axis 1)
    return (0,) if X.ndim <= 2 else (0, *range(2, X.ndim))


def person_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and guarded std of one person's rows (per feature, or per channel for windows)."""
    if X.shape[0] == 0:
        raise DataError("cannot standardize a person with no rows")
    axes = _axes(X)
    x = X.astype(np.float64, copy=False)
    mean = x.mean(axis=axes, keepdims=True)[0]
    std = x.std(axis=axes, keepdims=True)[0]
    constant = std <= _EPS * np.maximum(1.0, np.abs(mean))
    return mean, np.where(constant, 1.0, std)  # a constant feature is centred, not blown up


def apply(X: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(X - mean) / std as float32."""
    return ((X.astype(np.float64, copy=False) - mean) / std).astype(np.float32)


def _check(mode: str) -> bool:
    if mode not in ("person", "none"):
        raise DataError(f"standardization mode must be resolved to 'person' or 'none', got {mode!r}")
    return mode == "person"


def standardize_person(train: np.ndarray, test: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """One person's train and test rows, scaled by the statistics of their train rows only."""
    if not _check(mode):
        return train.astype(np.float32, copy=False), test.astype(np.float32, copy=False)
    mean, std = person_stats(train)
    return apply(train, mean, std), apply(test, mean, std)


def standardize_all(X: np.ndarray, mode: str) -> np.ndarray:
    """All rows of one (held-out) person, scaled by their own statistics."""
    if not _check(mode):
        return X.astype(np.float32, copy=False)
    mean, std = person_stats(X)
    return apply(X, mean, std)
