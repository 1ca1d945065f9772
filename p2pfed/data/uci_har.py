"""Read the official UCI HAR download (zip or extracted folder), validated, and convert it to .npz.

The official layout (Anguita et al. 2013; UCI dataset 240), as in ``UCI HAR Dataset.zip``::

    UCI HAR Dataset/
        activity_labels.txt          "1 WALKING" ... "6 LAYING"
        features.txt                 "1 tBodyAcc-mean()-X" ... (561 lines)
        train/X_train.txt            561 whitespace-separated floats per window ("2.8858451e-001")
        train/y_train.txt            activity id 1..6 per window
        train/subject_train.txt      volunteer id 1..30 per window
        train/Inertial Signals/body_acc_x_train.txt ... total_acc_z_train.txt
                                     128 floats per window (2.56 s at 50 Hz), one file per channel
        test/...                     the same with _test (the official test volunteers)

Accepted: that zip (read in memory with ``zipfile``, never extracted; also when it is nested one
level inside the UCI repository's download, as ``.../UCI HAR Dataset.zip``), the extracted
``UCI HAR Dataset`` folder, or a folder that contains it.

In memory the data has the shape the .npz loader gives (``p2pfed.data.npz``): ``X`` float32
(n, 561), ``X_raw`` float32 (n, 9, 128) channels x time in ``CHANNELS`` order, ``y`` int64
0-based (activity id - 1, in ``activity_labels.txt`` order, the same order as
``../shared/data/uci_hapt``), ``subject`` int64, ``is_test`` (the official split), and the
feature, channel and label names. ``convert`` writes exactly that as an .npz with keys ``X``,
``X_raw``, ``y``, ``subject``, ``is_test``, ``feature_names``, ``channels``, ``label_names``,
which ``data.source = "npz"`` reads (use ``x_key = "X_raw"`` for the raw windows).
"""

from __future__ import annotations

import io
import logging
import re
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

import numpy as np

from p2pfed.errors import DataError

log = logging.getLogger(__name__)

ROOT = "UCI HAR Dataset"
PARTS = ("train", "test")
#: The nine inertial channels, in the order of X_raw's axis 1.
CHANNELS: tuple[str, ...] = (
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
    "total_acc_x", "total_acc_y", "total_acc_z",
)
N_FEATURES = 561
WINDOW = 128
#: Input arrays this source offers (data.x_key) and each row's shape.
X_KEYS: dict[str, tuple[int, ...]] = {"X": (N_FEATURES,), "X_raw": (len(CHANNELS), WINDOW)}
_LAYOUT = (
    f"the official layout is '{ROOT}/' with activity_labels.txt, features.txt and, for train and "
    "test, X_<part>.txt, y_<part>.txt, subject_<part>.txt and 'Inertial Signals/<channel>_<part>.txt'"
)


def files(part: str) -> dict[str, str]:
    """Paths (relative to the dataset root) of one part's files, by what they hold."""
    out = {"X": f"{part}/X_{part}.txt", "y": f"{part}/y_{part}.txt", "subject": f"{part}/subject_{part}.txt"}
    for c in CHANNELS:
        out[c] = f"{part}/Inertial Signals/{c}_{part}.txt"
    return out


# ---- reading the zip or the folder ------------------------------------------------------------


class _Tree(Protocol):
    """Read-only access to the files under the dataset root."""

    where: str

    def has(self, rel: str) -> bool: ...

    def read(self, rel: str) -> bytes: ...


class _FolderTree:
    def __init__(self, root: Path, where: str) -> None:
        self.root, self.where = root, where

    def has(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def read(self, rel: str) -> bytes:
        try:
            return (self.root / rel).read_bytes()
        except OSError as e:
            raise DataError(f"{self.where}: cannot read {rel}: {e.strerror or e}") from None


class _ZipTree:
    def __init__(self, z: zipfile.ZipFile, prefix: str, where: str) -> None:
        self.z, self.prefix, self.where = z, prefix, where
        self.names = set(z.namelist())

    def has(self, rel: str) -> bool:
        return self.prefix + rel in self.names

    def read(self, rel: str) -> bytes:
        try:
            return self.z.read(self.prefix + rel)
        except (OSError, zipfile.BadZipFile, EOFError, RuntimeError) as e:
            raise DataError(f"{self.where}: cannot read {rel} from the zip: {e}") from None


def _zip_root(names: Sequence[str]) -> str | None:
    """Prefix of the dataset root inside a zip ('UCI HAR Dataset/' normally), or None."""
    marker = "train/y_train.txt"
    found = [
        n[: -len(marker)]
        for n in names
        if (n == marker or n.endswith("/" + marker)) and not n.startswith("__MACOSX/")
    ]
    return min(found, key=len) if found else None


@contextmanager
def _open(path: str | Path) -> Iterator[_Tree]:
    """The dataset root of a zip or folder, or a DataError saying what was expected."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(
            f"{p}: not found (expected the UCI HAR download: '{ROOT}.zip' or its extracted folder)"
        )
    if p.is_dir():
        for root in (p, p / ROOT):
            if (root / "train").is_dir() or (root / "test").is_dir():
                yield _FolderTree(root, str(p))
                return
        raise DataError(f"{p}: no '{ROOT}' dataset in this folder (no train/ or {ROOT}/train/); {_LAYOUT}")
    try:
        outer = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(
            f"{p}: not a zip file or a folder ({e}); expected '{ROOT}.zip' or its extracted folder"
        ) from None
    with outer:
        z, prefix = outer, _zip_root(outer.namelist())
        inner = None
        if prefix is None:
            nested = [
                n
                for n in outer.namelist()
                if PurePosixPath(n).name == f"{ROOT}.zip" and not n.startswith("__MACOSX/")
            ]
            if not nested:
                raise DataError(f"{p}: this zip holds no '{ROOT}' dataset (no train/y_train.txt); {_LAYOUT}")
            try:
                inner = zipfile.ZipFile(io.BytesIO(outer.read(nested[0])))
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise DataError(f"{p}: the nested {nested[0]} is not a readable zip: {e}") from None
            z, prefix = inner, _zip_root(inner.namelist())
            if prefix is None:
                inner.close()
                raise DataError(f"{p}: the nested {nested[0]} holds no train/y_train.txt; {_LAYOUT}")
        try:
            yield _ZipTree(z, prefix, str(p))
        finally:
            if inner is not None:
                inner.close()


def _need(tree: _Tree, rel: str) -> bytes:
    if not tree.has(rel):
        raise DataError(f"{tree.where}: missing {ROOT}/{rel}; {_LAYOUT}")
    return tree.read(rel)


# ---- parsing -----------------------------------------------------------------------------------


def _lines(data: bytes) -> list[bytes]:
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _matrix(data: bytes, cols: int, where: str) -> np.ndarray:
    """Whitespace-separated floats, `cols` per line, as float64 (n, cols); errors name the line."""
    lines = _lines(data)
    if not lines:
        raise DataError(f"{where}: is empty")
    counts = np.fromiter((len(line.split()) for line in lines), np.int64, len(lines))
    wrong = np.flatnonzero(counts != cols)
    if wrong.size:
        i = int(wrong[0])
        raise DataError(
            f"{where}: line {i + 1} has {int(counts[i])} values, expected {cols} "
            f"({wrong.size} line(s) have the wrong number of columns)"
        )
    n = len(lines)
    body = b"\n".join(lines)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            a = np.fromstring(body, dtype=np.float64, sep=" ")  # text mode: fast, strict
        except (ValueError, DeprecationWarning):
            a = np.zeros(0)
    if a.size != n * cols:  # a token is not a number: find it, line by line
        for i, line in enumerate(lines):
            for tok in line.split():
                try:
                    float(tok)
                except ValueError:
                    text = tok.decode(errors="replace")
                    raise DataError(f"{where}: line {i + 1}: {text!r} is not a number") from None
        raise DataError(f"{where}: cannot parse the numbers")  # pragma: no cover - float() accepted all
    a = a.reshape(n, cols)
    finite = np.isfinite(a).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise DataError(f"{where}: line {i + 1} has NaN or Inf ({int((~finite).sum())} such line(s))")
    return a


def _ids(data: bytes, where: str, what: str) -> np.ndarray:
    """One whole number per line (labels or subject ids) as int64."""
    a = _matrix(data, 1, where)[:, 0]
    if (a != np.round(a)).any() or np.abs(a).max() >= 2**31:
        i = int(np.flatnonzero((a != np.round(a)) | (np.abs(a) >= 2**31))[0])
        raise DataError(f"{where}: line {i + 1}: {what} must be whole numbers, got {a[i]!r}")
    return a.astype(np.int64)


def _numbered(data: bytes, where: str) -> list[tuple[int, str]]:
    """Lines "<id> <name>" (activity_labels.txt, features.txt)."""
    out = []
    for i, line in enumerate(_lines(data)):
        m = re.fullmatch(rb"\s*(\d+)\s+(\S.*?)\s*", line)
        if m is None:
            raise DataError(f"{where}: line {i + 1} should be '<number> <name>', got {line[:60]!r}")
        out.append((int(m.group(1)), m.group(2).decode(errors="replace")))
    return out


# ---- public API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UciHarInfo:
    """What the download holds, from its small files only (names, labels, subjects)."""

    path: str
    label_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    channels: tuple[str, ...]
    rows: dict[str, int]  # part -> windows
    subjects: dict[str, tuple[int, ...]]  # part -> volunteer ids, ascending
    label_counts: dict[str, tuple[int, ...]]  # part -> windows per class

    @property
    def n_classes(self) -> int:
        return len(self.label_names)


@dataclass(frozen=True, eq=False)
class UciHarData:
    """Windows of some parts of the download, in file order (train rows first)."""

    X: np.ndarray | None  # float32 (n, 561) when loaded
    X_raw: np.ndarray | None  # float32 (n, 9, 128) channels x time when loaded
    y: np.ndarray  # int64 (n,), 0-based class
    subject: np.ndarray  # int64 (n,)
    is_test: np.ndarray  # bool (n,), the official test split
    info: UciHarInfo


def _labels(tree: _Tree) -> tuple[str, ...]:
    where = f"{tree.where}: {ROOT}/activity_labels.txt"
    pairs = _numbered(_need(tree, "activity_labels.txt"), where)
    if [k for k, _ in pairs] != list(range(1, len(pairs) + 1)) or not pairs:
        raise DataError(f"{where}: activity ids must be 1, 2, ... in order, got {[k for k, _ in pairs]}")
    return tuple(name for _, name in pairs)


def _features(tree: _Tree) -> tuple[str, ...]:
    where = f"{tree.where}: {ROOT}/features.txt"
    pairs = _numbered(_need(tree, "features.txt"), where)
    if len(pairs) != N_FEATURES:
        raise DataError(f"{where}: lists {len(pairs)} features, expected {N_FEATURES}")
    return tuple(name for _, name in pairs)


def _part_meta(tree: _Tree, part: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated 0-based labels and subject ids of one part."""
    f = files(part)
    y = _ids(_need(tree, f["y"]), f"{tree.where}: {ROOT}/{f['y']}", "labels")
    s = _ids(_need(tree, f["subject"]), f"{tree.where}: {ROOT}/{f['subject']}", "subject ids")
    if len(y) != len(s):
        raise DataError(
            f"{tree.where}: {f['y']} has {len(y)} rows but {f['subject']} has {len(s)}; "
            "they must match line by line"
        )
    bad = (y < 1) | (y > n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{tree.where}: {ROOT}/{f['y']} line {i + 1}: label {int(y[i])} is out of range 1..{n_classes} "
            "(activity_labels.txt)"
        )
    if (s < 1).any():
        i = int(np.flatnonzero(s < 1)[0])
        raise DataError(
            f"{tree.where}: {ROOT}/{f['subject']} line {i + 1}: subject id {int(s[i])} must be >= 1"
        )
    return y - 1, s


def _info(
    tree: _Tree, metas: dict[str, tuple[np.ndarray, np.ndarray]], labels: tuple[str, ...]
) -> UciHarInfo:
    k = len(labels)
    return UciHarInfo(
        path=tree.where,
        label_names=labels,
        feature_names=_features(tree),
        channels=CHANNELS,
        rows={p: int(len(y)) for p, (y, _) in metas.items()},
        subjects={p: tuple(int(v) for v in np.unique(s)) for p, (_, s) in metas.items()},
        label_counts={p: tuple(int(c) for c in np.bincount(y, minlength=k)) for p, (y, _) in metas.items()},
    )


def _parts(parts: Sequence[str]) -> tuple[str, ...]:
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise DataError(f"UCI HAR parts must be among {', '.join(PARTS)}, got {list(parts)!r}")
    return tuple(dict.fromkeys(parts))


def read_names(path: str | Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(label names, feature names) from activity_labels.txt and features.txt only."""
    with _open(path) as tree:
        return _labels(tree), _features(tree)


def read_subjects(path: str | Path, part: str = "train") -> tuple[int, ...]:
    """The volunteer ids of one part (train: the official train volunteers), ascending."""
    part = _parts([part])[0]
    with _open(path) as tree:
        rel = files(part)["subject"]
        s = _ids(_need(tree, rel), f"{tree.where}: {ROOT}/{rel}", "subject ids")
    return tuple(int(v) for v in np.unique(s))


def read_info(path: str | Path, parts: Sequence[str] = PARTS) -> UciHarInfo:
    """Validate names, labels, subjects and every file's row count of `parts`; no float is parsed."""
    parts = _parts(parts)
    with _open(path) as tree:
        labels = _labels(tree)
        metas = {p: _part_meta(tree, p, len(labels)) for p in parts}
        for p in parts:  # the big files must be there, with the right number of lines
            for what, rel in files(p).items():
                n = len(_lines(_need(tree, rel)))
                if n != len(metas[p][0]):
                    raise DataError(
                        f"{tree.where}: {ROOT}/{rel} has {n} rows but {files(p)['y']} has {len(metas[p][0])}"
                    )
        return _info(tree, metas, labels)


def load_uci_har(
    path: str | Path,
    parts: Sequence[str] = PARTS,
    arrays: Sequence[str] = ("X", "X_raw"),
    subjects: Sequence[int] | None = None,
) -> UciHarData:
    """Parse `arrays` ("X", "X_raw") of `parts`, keeping the windows of `subjects` (all if None)."""
    parts = _parts(parts)
    unknown = [a for a in arrays if a not in X_KEYS]
    if unknown:
        raise DataError(f"UCI HAR inputs are {', '.join(X_KEYS)}; got {', '.join(map(repr, unknown))}")
    with _open(path) as tree:
        labels = _labels(tree)
        metas = {p: _part_meta(tree, p, len(labels)) for p in parts}
        info = _info(tree, metas, labels)
        if subjects is not None:
            have = sorted({s for p in parts for s in info.subjects[p]})
            missing = [int(s) for s in subjects if int(s) not in have]
            if missing:
                raise DataError(
                    f"{tree.where}: no windows of subject(s) {', '.join(map(str, missing))} in the "
                    f"{'/'.join(parts)} part (available subjects: {', '.join(map(str, have))})"
                )
        Xs: list[np.ndarray] = []
        raws: list[np.ndarray] = []
        keep_parts = []
        for p in parts:
            y, s = metas[p]
            keep = np.ones(len(y), bool) if subjects is None else np.isin(s, np.asarray(subjects, np.int64))
            keep_parts.append(keep)
            f = files(p)
            if "X" in arrays:
                X = _matrix(_need(tree, f["X"]), N_FEATURES, f"{tree.where}: {ROOT}/{f['X']}")
                _same_rows(tree.where, f["X"], len(X), f["y"], len(y))
                Xs.append(X[keep].astype(np.float32))
            if "X_raw" in arrays:
                chans = []
                for c in CHANNELS:
                    a = _matrix(_need(tree, f[c]), WINDOW, f"{tree.where}: {ROOT}/{f[c]}")
                    _same_rows(tree.where, f[c], len(a), f["y"], len(y))
                    chans.append(a[keep].astype(np.float32))
                raws.append(np.stack(chans, axis=1))
    y = np.concatenate([metas[p][0][k] for p, k in zip(parts, keep_parts)])
    subject = np.concatenate([metas[p][1][k] for p, k in zip(parts, keep_parts)])
    is_test = np.concatenate([np.full(int(k.sum()), p == "test") for p, k in zip(parts, keep_parts)])
    log.debug("read %d UCI HAR windows (%s) from %s", len(y), "/".join(parts), path)
    return UciHarData(
        X=np.concatenate(Xs) if Xs else None,
        X_raw=np.concatenate(raws) if raws else None,
        y=y,
        subject=subject,
        is_test=is_test,
        info=info,
    )


def _same_rows(where: str, rel: str, n: int, y_rel: str, n_y: int) -> None:
    if n != n_y:
        raise DataError(
            f"{where}: {ROOT}/{rel} has {n} rows but {y_rel} has {n_y}; they must match line by line"
        )


SPLITS = ("all", "train", "test")


def convert(path: str | Path, out: str | Path, split: str = "all") -> Path:
    """Write the download (both parts, or one) as an .npz that `data.source = "npz"` reads.

    Keys: X float32 (n, 561), X_raw float32 (n, 9, 128), y int64 0..5, subject int64, is_test
    bool, feature_names, channels, label_names (unicode arrays; no pickle needed to read them).
    """
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    out = Path(out).expanduser()
    if out.suffix != ".npz":
        raise DataError(f"{out}: the output file name must end in .npz")
    if not out.parent.is_dir():
        raise DataError(f"{out.parent}: folder not found (create it first)")
    parts = PARTS if split == "all" else (split,)
    d = load_uci_har(path, parts)
    tmp = out.with_name(out.name + ".tmp.npz")
    try:
        np.savez(
            tmp,
            X=d.X,
            X_raw=d.X_raw,
            y=d.y,
            subject=d.subject,
            is_test=d.is_test,
            feature_names=np.array(d.info.feature_names, dtype=str),
            channels=np.array(d.info.channels, dtype=str),
            label_names=np.array(d.info.label_names, dtype=str),
        )
        tmp.replace(out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{out}: cannot write: {e.strerror or e}") from None
    log.info("wrote %d windows of %d subjects to %s", len(d.y), len(np.unique(d.subject)), out)
    return out
