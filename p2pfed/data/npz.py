"""Read person-partitioned data from any .npz with X, y and subject, validating every array.

The format (``np.savez``; nothing in it may need pickle):

- ``X``: float (or integer) array (n, ...): one row per sample, e.g. (n, features) or raw
  windows (n, channels, time); another key can be chosen with ``data.x_key`` (e.g. ``X_raw``);
- ``y``: integer labels 0..C-1, shape (n,) (whole-valued floats are accepted);
- ``subject``: integer person id per row, shape (n,): one node per subject;
- optional: ``label_names`` (C strings; fixes C even if a class is absent), ``feature_names``
  (one per column of a (n, d) X) and ``channels`` (one per channel of (n, c, t) windows).

Other keys are ignored (``is_test``, ``raw_start``...). ``p2pfed data convert-uci-har`` writes
this format from the official UCI HAR download.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from p2pfed.errors import DataError

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class NpzInfo:
    """What every node agrees on about a file: classes, input shape, names and subjects."""

    path: str
    n_rows: int
    n_classes: int
    input_shape: tuple[int, ...]
    subjects: tuple[int, ...]
    feature_names: tuple[str, ...]
    label_names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class NpzData:
    """The rows of some subjects of an .npz file (in file order), plus the file's NpzInfo."""

    X: np.ndarray  # float32 (n, ...)
    y: np.ndarray  # int64 (n,)
    subject: np.ndarray  # int64 (n,)
    info: NpzInfo


@contextmanager
def _open(path: str | Path) -> Iterator[np.lib.npyio.NpzFile]:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: file not found")
    if not p.is_file():
        raise DataError(f"{p}: not a file")
    try:
        z = np.load(p, allow_pickle=False)
    except ValueError:
        raise DataError(f"{p}: not an .npz archive (nor a plain .npy array)") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{p}: cannot read as .npz: {e}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError(f"{p}: is a single .npy array; expected an .npz archive with X, y, subject")
    try:
        yield z
    finally:
        z.close()


def _get(z: np.lib.npyio.NpzFile, key: str, path: str | Path) -> np.ndarray:
    if key not in z.files:
        raise DataError(
            f"{path}: has no array {key!r} (it has: {', '.join(z.files) or 'nothing'}); "
            "expected X (n, ...) float, y (n,) int labels 0..C-1 and subject (n,) int"
        )
    try:
        return np.asarray(z[key])
    except ValueError as e:  # object arrays would need pickle, which we never allow
        raise DataError(f"{path}: array {key!r} cannot be loaded without pickle ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: array {key!r} is corrupt: {e}") from None


def _integers(a: np.ndarray, key: str, path: str | Path) -> np.ndarray:
    """A 1-D integer array, or a clear error; whole-valued floats are accepted."""
    if a.ndim != 1:
        raise DataError(f"{path}: {key} must be 1-D (n,), got shape {a.shape}")
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise DataError(f"{path}: {key} contains NaN or Inf")
        if (a != np.round(a)).any():
            bad = a[a != np.round(a)][0]
            raise DataError(f"{path}: {key} must hold whole numbers, found {bad!r}")
        if a.size and np.abs(a).max() >= 2**31:
            raise DataError(f"{path}: {key} holds values too large to be ids or labels")
        return a.astype(np.int64)
    raise DataError(f"{path}: {key} must be integers, got dtype {a.dtype}")


def _strings(z: np.lib.npyio.NpzFile, key: str, path: str | Path) -> tuple[str, ...] | None:
    if key not in z.files:
        return None
    a = _get(z, key, path)
    if a.ndim != 1 or a.dtype.kind not in "US":
        raise DataError(f"{path}: {key} must be a 1-D array of strings, got {a.dtype} {a.shape}")
    return tuple(str(s.decode() if isinstance(s, bytes) else s) for s in a)


def _names(z: np.lib.npyio.NpzFile, path: str | Path, shape: tuple[int, ...]) -> tuple[str, ...]:
    """Names of the input's axis 1: features of a (n, d) input, channels of (n, c, t) windows."""
    keys = ("feature_names", "channels") if len(shape) == 1 else ("channels", "feature_names")
    for key in keys:
        try:
            names = _strings(z, key, path)
        except DataError:
            names = None
        if names is not None and len(names) == shape[0]:
            return names
    return tuple(f"x{i}" for i in range(shape[0]))


def _read_meta(
    z: np.lib.npyio.NpzFile, path: str | Path, x_key: str
) -> tuple[NpzInfo, np.ndarray, np.ndarray]:
    """Validate y, subject and the shape of X; return the info plus y and subject of all rows."""
    y = _integers(_get(z, "y", path), "y", path)
    subject = _integers(_get(z, "subject", path), "subject", path)
    X = _x_header(z, x_key, path)
    n = int(y.shape[0])
    if n == 0:
        raise DataError(f"{path}: holds no rows (y is empty)")
    if subject.shape[0] != n or X[0] != n:
        raise DataError(
            f"{path}: {x_key}, y and subject must have the same number of rows, got "
            f"{X[0]}, {n} and {subject.shape[0]}"
        )
    if (y < 0).any():
        raise DataError(f"{path}: labels must be >= 0, found {int(y.min())}")
    label_names = _strings(z, "label_names", path)
    if label_names is not None:
        if not label_names:
            raise DataError(f"{path}: label_names is empty")
        n_classes = len(label_names)
        if int(y.max()) >= n_classes:
            raise DataError(
                f"{path}: label {int(y.max())} is out of range: label_names has {n_classes} classes "
                f"(labels must be 0..{n_classes - 1})"
            )
    else:
        n_classes = int(y.max()) + 1
        label_names = tuple(f"class{c}" for c in range(n_classes))
    info = NpzInfo(
        path=str(path),
        n_rows=n,
        n_classes=n_classes,
        input_shape=tuple(int(d) for d in X[1:]),
        subjects=tuple(int(s) for s in np.unique(subject)),
        feature_names=_names(z, path, X[1:]),
        label_names=label_names,
    )
    return info, y, subject


def _x_header(z: np.lib.npyio.NpzFile, x_key: str, path: str | Path) -> tuple[int, ...]:
    """Shape of X, read from the .npy header without loading the data, with dtype checks."""
    if x_key not in z.files:
        _get(z, x_key, path)  # raises the missing-key error
    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    try:
        with z.zip.open(f"{x_key}.npy") as f:
            reader = readers.get(np.lib.format.read_magic(f))
            if reader is not None:
                shape, _, dtype = reader(f)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: array {x_key!r} is corrupt: {e}") from None
    if reader is None:  # a newer .npy format version: read the array itself
        a = _get(z, x_key, path)
        shape, dtype = a.shape, a.dtype
    if dtype.kind not in "fiu":
        raise DataError(f"{path}: {x_key} must be a numeric (float) array, got dtype {dtype}")
    if len(shape) < 2 or any(d == 0 for d in shape[1:]):
        raise DataError(f"{path}: {x_key} must have shape (n, features...), got {shape}")
    return tuple(int(d) for d in shape)


def read_info(path: str | Path, x_key: str = "X") -> NpzInfo:
    """Validate the file's labels, subjects and X shape, and describe it (X is not loaded)."""
    with _open(path) as z:
        return _read_meta(z, path, x_key)[0]


def read_labels(path: str | Path, x_key: str = "X") -> tuple[NpzInfo, np.ndarray, np.ndarray]:
    """The file's NpzInfo plus its validated labels and subject ids (X is not loaded)."""
    with _open(path) as z:
        return _read_meta(z, path, x_key)


def list_subjects(path: str | Path) -> tuple[int, ...]:
    """The subject ids present in an .npz file, ascending."""
    with _open(path) as z:
        subject = _integers(_get(z, "subject", path), "subject", path)
    return tuple(int(s) for s in np.unique(subject))


def check_subjects(
    wanted: Sequence[int], available: Sequence[int], path: str | Path, what: str
) -> None:
    """Raise DataError if `wanted` is empty, repeats an id, or names one not in `available`."""
    bad = [s for s in wanted if isinstance(s, bool) or not isinstance(s, int | np.integer)]
    if bad:
        raise DataError(f"{what} must be integer subject ids, got {', '.join(map(repr, bad))}")
    if len(wanted) == 0:
        raise DataError(f"{what} is empty: list the subject ids of this node's people")
    dup = sorted({int(s) for s in wanted if list(wanted).count(s) > 1})
    if dup:
        raise DataError(f"{what} lists subject(s) {', '.join(map(str, dup))} more than once")
    missing = [int(s) for s in wanted if int(s) not in set(available)]
    if missing:
        raise DataError(
            f"{path}: no rows for subject(s) {', '.join(map(str, missing))} "
            f"(available subjects: {', '.join(map(str, available))})"
        )


def load_npz(
    path: str | Path, subjects: Sequence[int] | None = None, x_key: str = "X", what: str = "data.users"
) -> NpzData:
    """Load the rows of `subjects` (all if None) from an .npz with X, y and subject."""
    with _open(path) as z:
        info, y, subject = _read_meta(z, path, x_key)
        wanted = info.subjects if subjects is None else tuple(subjects)
        check_subjects(wanted, info.subjects, path, what)
        rows = np.flatnonzero(np.isin(subject, np.asarray(wanted, dtype=np.int64)))
        X = _get(z, x_key, path)
    with np.errstate(over="ignore", invalid="ignore"):
        X = np.asarray(X[rows], dtype=np.float32)  # too large for float32 becomes Inf
    if not np.isfinite(X).all():
        bad = ~np.isfinite(X.reshape(X.shape[0], -1)).all(axis=1)
        first = int(rows[np.flatnonzero(bad)[0]])
        raise DataError(
            f"{path}: {x_key} has NaN or Inf (or values too large for float32) in "
            f"{int(bad.sum())} row(s) of the requested subjects, first at row {first} "
            f"(subject {int(subject[first])})"
        )
    return NpzData(X=X, y=y[rows], subject=subject[rows], info=info)
