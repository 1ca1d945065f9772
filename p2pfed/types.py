"""Small value types shared across layers: model manifests, data splits, training and evaluation stats."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

NodeId = str

#: dtype of every model vector on the wire and in the node core: little-endian float32.
PARAM_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class Manifest:
    """Describes a flat float32 parameter vector: tensor names, shapes and the model's arch."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    arch: str  # human-readable model description, part of the schema hash
    dtype: str = PARAM_DTYPE.str

    def __post_init__(self) -> None:
        if len(self.names) != len(self.shapes):
            raise ValueError("manifest names and shapes differ in length")

    @functools.cached_property
    def size(self) -> int:
        """Number of scalar parameters in the flat vector."""
        return int(sum(int(np.prod(s, dtype=np.int64)) for s in self.shapes))

    @functools.cached_property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @functools.cached_property
    def schema(self) -> str:
        """Short hash identifying the model layout; nodes only exchange models of equal schema."""
        canon = json.dumps(
            {"arch": self.arch, "dtype": self.dtype, "names": self.names, "shapes": self.shapes},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canon.encode()).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class Split:
    """Feature matrix and integer labels of one partition (train or test) of some data."""

    X: np.ndarray  # float32, shape (n, ...) - (n, d) for features, (n, c, t) for raw windows
    y: np.ndarray  # int64, shape (n,)
    #: optional per-row group name (e.g. the archetype or subject a held-out row belongs to),
    #: for sliced evaluation; None when the data has no groups
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True, eq=False)
class LocalData:
    """Everything one node knows: its own train and test data, plus dataset metadata."""

    train: Split
    test: Split
    n_classes: int
    feature_names: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()
    #: free-form description of who this data belongs to (e.g. user ids, archetypes)
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.train.X.shape[1:])


@dataclass(frozen=True)
class TrainStats:
    """What one call of local training did."""

    steps: int
    samples: int
    loss: float


@dataclass(frozen=True)
class EvalStats:
    """Loss and accuracy of a model on some split."""

    loss: float
    accuracy: float
    n: int
