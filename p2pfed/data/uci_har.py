"""The official UCI HAR download as arrays: its validated info, its windows, and its conversion to .npz.

Reading the zip or folder is ``uci_har_files`` (which also describes the official layout), parsing
the text files ``uci_har_text``. In memory the data has the shape the .npz loader gives
(``p2pfed.data.npz``): ``X`` float32 (n, 561), ``X_raw`` float32 (n, 9, 128) channels x time in
``CHANNELS`` order, ``y`` int64 0-based (activity id - 1, in ``activity_labels.txt`` order, the
same order as ``../shared/data/uci_hapt``), ``subject`` int64, ``is_test`` (the official split),
and the feature, channel and label names. ``convert`` writes exactly that as an .npz with keys
``X``, ``X_raw``, ``y``, ``subject``, ``is_test``, ``feature_names``, ``channels``,
``label_names``, which ``data.source = "npz"`` reads (use ``x_key = "X_raw"`` for the raw windows).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from p2pfed.data.uci_har_files import (
    CHANNELS,
    N_FEATURES,
    PARTS,
    ROOT,
    WINDOW,
    X_KEYS,
    Tree,
    files,
    need,
    open_download,
)
from p2pfed.data.uci_har_text import ids, lines, matrix, numbered
from p2pfed.errors import DataError

__all__ = [  # the layout constants are re-exported: callers need only this module
    "CHANNELS",
    "N_FEATURES",
    "PARTS",
    "ROOT",
    "SPLITS",
    "WINDOW",
    "X_KEYS",
    "UciHarData",
    "UciHarInfo",
    "convert",
    "files",
    "load_uci_har",
    "read_info",
    "read_names",
    "read_subjects",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UciHarInfo:
    """What the download holds, from its small files only: the label, feature and channel names
    and, per part ("train", "test"), its windows, its volunteers and its windows per class."""

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


def _labels(tree: Tree) -> tuple[str, ...]:
    where = f"{tree.where}: {ROOT}/activity_labels.txt"
    pairs = numbered(need(tree, "activity_labels.txt"), where)
    if [k for k, _ in pairs] != list(range(1, len(pairs) + 1)) or not pairs:
        raise DataError(f"{where}: activity ids must be 1, 2, ... in order, got {[k for k, _ in pairs]}")
    return tuple(name for _, name in pairs)


def _features(tree: Tree) -> tuple[str, ...]:
    where = f"{tree.where}: {ROOT}/features.txt"
    pairs = numbered(need(tree, "features.txt"), where)
    if len(pairs) != N_FEATURES:
        raise DataError(f"{where}: lists {len(pairs)} features, expected {N_FEATURES}")
    return tuple(name for _, name in pairs)


def _part_meta(tree: Tree, part: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated 0-based labels and subject ids of one part."""
    f = files(part)
    y = ids(need(tree, f["y"]), f"{tree.where}: {ROOT}/{f['y']}", "labels")
    s = ids(need(tree, f["subject"]), f"{tree.where}: {ROOT}/{f['subject']}", "subject ids")
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
    tree: Tree, metas: dict[str, tuple[np.ndarray, np.ndarray]], labels: tuple[str, ...]
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
    with open_download(path) as tree:
        return _labels(tree), _features(tree)


def read_subjects(path: str | Path, part: str = "train") -> tuple[int, ...]:
    """The volunteer ids of one part (train: the official train volunteers), ascending."""
    part = _parts([part])[0]
    with open_download(path) as tree:
        rel = files(part)["subject"]
        s = ids(need(tree, rel), f"{tree.where}: {ROOT}/{rel}", "subject ids")
    return tuple(int(v) for v in np.unique(s))


def read_info(path: str | Path, parts: Sequence[str] = PARTS) -> UciHarInfo:
    """Validate names, labels, subjects and every file's row count of `parts`; no float is parsed."""
    parts = _parts(parts)
    with open_download(path) as tree:
        labels = _labels(tree)
        metas = {p: _part_meta(tree, p, len(labels)) for p in parts}
        for p in parts:  # the big files must be there, with the right number of lines
            for what, rel in files(p).items():
                n = len(lines(need(tree, rel)))
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
    with open_download(path) as tree:
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
                X = matrix(need(tree, f["X"]), N_FEATURES, f"{tree.where}: {ROOT}/{f['X']}")
                _same_rows(tree.where, f["X"], len(X), f["y"], len(y))
                Xs.append(X[keep].astype(np.float32))
            if "X_raw" in arrays:
                chans = []
                for c in CHANNELS:
                    a = matrix(need(tree, f[c]), WINDOW, f"{tree.where}: {ROOT}/{f[c]}")
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
