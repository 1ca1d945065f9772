"""Read the rows of some people from a data source (synthetic, npz, uci-har) into one table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from p2pfed.config import DataConfig
from p2pfed.data import npz, synthetic, uci_har
from p2pfed.errors import DataError

log = logging.getLogger(__name__)

SOURCES = ("synthetic", "npz", "uci-har")


@dataclass(frozen=True)
class DataInfo:
    """What every node of a federation agrees on for one DataConfig (no private rows needed)."""

    n_classes: int
    input_shape: tuple[int, ...]
    feature_names: tuple[str, ...]
    label_names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Rows:
    """The rows of some people, in a fixed order (synthetic: people in the order asked for, each
    by day; files: file order), with each person's group name and the source's description."""

    X: np.ndarray  # float32 (n, ...), not standardized
    y: np.ndarray  # int64 (n,)
    person: np.ndarray  # int64 (n,): synthetic user index or subject id of each row
    groups: dict[int, str]  # person -> group (synthetic: archetype; files: "subject <id>")
    info: DataInfo
    meta: dict[str, object]  # "source" and "seed" or "path"

    def group_per_row(self) -> np.ndarray:
        """The group name of every row (unicode array)."""
        if not self.groups:
            return np.zeros(len(self.y), dtype="<U1")
        people = np.array(sorted(self.groups), dtype=np.int64)
        names = np.array([self.groups[int(p)] for p in people])
        return names[np.searchsorted(people, self.person)]


def subject_group(subject: int) -> str:
    """The group name of a person of a file source."""
    return f"subject {int(subject)}"


def resolve(p: str, root: Path | None) -> Path:
    """`p` relative to `root` (when both relative and given), with ~ expanded."""
    q = Path(p).expanduser()
    return q if q.is_absolute() or root is None else Path(root) / q


def data_path(cfg: DataConfig, root: Path | None) -> Path:
    """cfg.path, resolved, or a DataError saying what the source needs."""
    if not cfg.path:
        if cfg.source == "uci-har":
            raise DataError(
                "data.path is empty: data.source = 'uci-har' needs the UCI HAR download "
                "('UCI HAR Dataset.zip' or its extracted folder)"
            )
        raise DataError("data.path is empty: data.source = 'npz' needs an .npz file with X, y, subject")
    return resolve(cfg.path, root)


def check_x_key(cfg: DataConfig) -> None:
    if cfg.source == "uci-har" and cfg.x_key not in uci_har.X_KEYS:
        raise DataError(
            f"data.x_key must be one of {', '.join(map(repr, uci_har.X_KEYS))} with data.source = 'uci-har', "
            f"got {cfg.x_key!r}"
        )


def info(cfg: DataConfig, root: Path | None = None) -> DataInfo:
    """Classes, input shape and names for `cfg`, from the generator or the files' small parts."""
    if cfg.source == "synthetic":
        return DataInfo(
            synthetic.n_classes(cfg.synthetic),
            (synthetic.N_FEATURES,),
            synthetic.FEATURE_NAMES,
            synthetic.label_names(cfg.synthetic),
        )
    if cfg.source == "uci-har":
        check_x_key(cfg)
        labels, features = uci_har.read_names(data_path(cfg, root))
        names = features if cfg.x_key == "X" else uci_har.CHANNELS
        return DataInfo(len(labels), uci_har.X_KEYS[cfg.x_key], names, labels)
    i = npz.read_info(data_path(cfg, root), cfg.x_key)
    return DataInfo(i.n_classes, i.input_shape, i.feature_names, i.label_names)


def subjects(cfg: DataConfig, root: Path | None = None) -> tuple[int, ...]:
    """Every person a file source offers to nodes (npz: all; uci-har: its train volunteers)."""
    if cfg.source == "npz":
        return npz.list_subjects(data_path(cfg, root))
    if cfg.source == "uci-har":
        return uci_har.read_subjects(data_path(cfg, root), "train")
    raise DataError("synthetic data has no fixed set of subjects: name the users")


def read_rows(
    cfg: DataConfig, people: Sequence[int] | None, root: Path | None = None, what: str = "data.users"
) -> Rows:
    """The rows of `people` (synthetic user indices or subject ids; None: every subject of a file).

    Synthetic users are generated from (seed, index) alone; files are read once. `what` names
    the config key that listed `people`, for error messages.
    """
    if cfg.source == "synthetic":
        if people is None:
            raise DataError("synthetic data needs the user indices to generate")
        gen = synthetic.generate_users(cfg.synthetic, cfg.seed, list(people))
        return _synthetic_rows(gen, info(cfg, root), {"source": "synthetic", "seed": cfg.seed})
    path = data_path(cfg, root)
    if cfg.source == "uci-har":
        check_x_key(cfg)
        d = uci_har.load_uci_har(path, ("train",), (cfg.x_key,), people)
        X = d.X if cfg.x_key == "X" else d.X_raw
        assert X is not None
        names = d.info.feature_names if cfg.x_key == "X" else d.info.channels
        i = DataInfo(d.info.n_classes, uci_har.X_KEYS[cfg.x_key], names, d.info.label_names)
        return _file_rows(X, d.y, d.subject, i, {"source": "uci-har", "path": str(path)})
    d2 = npz.load_npz(path, people, cfg.x_key, what=what)
    i = DataInfo(d2.info.n_classes, d2.info.input_shape, d2.info.feature_names, d2.info.label_names)
    return _file_rows(d2.X, d2.y, d2.subject, i, {"source": "npz", "path": str(path)})


def read_heldout(cfg: DataConfig, root: Path | None = None) -> Rows | None:
    """Rows of the people no node holds, or None: synthetic held-out users (cfg.eval_users of
    the separate held-out stream), the npz cfg.eval_path, or uci-har's official test part."""
    if cfg.source == "synthetic":
        if cfg.eval_users == 0:
            return None
        gen = synthetic.heldout_users(cfg.synthetic, cfg.seed, cfg.eval_users)
        return _synthetic_rows(gen, info(cfg, root), {"source": "synthetic", "seed": cfg.seed})
    if cfg.source == "uci-har":
        check_x_key(cfg)
        path = data_path(cfg, root)
        d = uci_har.load_uci_har(path, ("test",), (cfg.x_key,))
        X = d.X if cfg.x_key == "X" else d.X_raw
        assert X is not None
        names = d.info.feature_names if cfg.x_key == "X" else d.info.channels
        i = DataInfo(d.info.n_classes, uci_har.X_KEYS[cfg.x_key], names, d.info.label_names)
        return _file_rows(X, d.y, d.subject, i, {"source": "uci-har", "path": str(path), "part": "test"})
    if not cfg.eval_path:
        return None
    path = resolve(cfg.eval_path, root)
    d2 = npz.load_npz(path, None, cfg.x_key, what="data.eval_path")
    if cfg.path:
        _check_compatible(d2.info, npz.read_info(data_path(cfg, root), cfg.x_key), cfg)
    i = DataInfo(d2.info.n_classes, d2.info.input_shape, d2.info.feature_names, d2.info.label_names)
    return _file_rows(d2.X, d2.y, d2.subject, i, {"source": "npz", "path": str(path)})


def _synthetic_rows(gen: list[synthetic.SyntheticUser], i: DataInfo, meta: dict[str, object]) -> Rows:
    if not gen:
        raise DataError("no synthetic users to generate")
    return Rows(
        X=np.concatenate([u.X for u in gen]),
        y=np.concatenate([u.y for u in gen]),
        person=np.concatenate([np.full(u.days, u.index, np.int64) for u in gen]),
        groups={u.index: u.archetype for u in gen},
        info=i,
        meta=meta,
    )


def _file_rows(
    X: np.ndarray, y: np.ndarray, subject: np.ndarray, i: DataInfo, meta: dict[str, object]
) -> Rows:
    groups = {int(s): subject_group(int(s)) for s in np.unique(subject)}
    return Rows(X=X, y=y, person=subject.astype(np.int64), groups=groups, info=i, meta=meta)


def _check_compatible(held: npz.NpzInfo, ref: npz.NpzInfo, cfg: DataConfig) -> None:
    """The held-out file must fit a model built for the node file."""
    if held.input_shape != ref.input_shape:
        raise DataError(
            f"{held.path}: {cfg.x_key} rows have shape {held.input_shape}, "
            f"but {ref.path} has {ref.input_shape}"
        )
    if held.n_classes > ref.n_classes:
        raise DataError(
            f"{held.path}: has {held.n_classes} classes, more than the {ref.n_classes} of {ref.path}"
        )
    if cfg.partition.scheme in ("person", "devices"):
        own = sorted({int(s) for s in cfg.users} & set(held.subjects))
    else:
        own = sorted(set(cfg.partition.pool or ref.subjects) & set(held.subjects))
    if own:
        log.warning("held-out data %s includes this node's own subject(s) %s", held.path, own)
