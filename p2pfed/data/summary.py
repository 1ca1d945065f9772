"""Describe a dataset file (an .npz, or the UCI HAR download) without loading its inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from p2pfed.data import npz, uci_har


@dataclass(frozen=True)
class PartSummary:
    """One part of a dataset (the whole .npz, or UCI HAR's train or test volunteers)."""

    name: str
    rows: int
    subjects: tuple[int, ...]
    label_counts: tuple[int, ...]  # windows per class, in label_names order


@dataclass(frozen=True)
class DatasetSummary:
    """What `p2pfed data info` prints."""

    path: str
    kind: str  # "npz" or "uci-har"
    inputs: dict[str, tuple[int, ...]]  # x_key -> shape of one row
    label_names: tuple[str, ...]
    parts: tuple[PartSummary, ...]


def is_uci_har(path: str | Path) -> bool:
    """A folder or a .zip is read as the UCI HAR download; anything else as an .npz."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() == ".zip"


def summarize(path: str | Path, x_key: str = "X") -> DatasetSummary:
    """Validate and describe `path` (labels, subjects, shapes), reading no input rows."""
    if is_uci_har(path):
        i = uci_har.read_info(path)
        parts = tuple(
            PartSummary(p, i.rows[p], i.subjects[p], i.label_counts[p]) for p in uci_har.PARTS if p in i.rows
        )
        return DatasetSummary(str(path), "uci-har", dict(uci_har.X_KEYS), i.label_names, parts)
    info, y, subject = npz.read_labels(path, x_key)
    counts = tuple(int(c) for c in np.bincount(y, minlength=info.n_classes))
    part = PartSummary("all", info.n_rows, info.subjects, counts)
    return DatasetSummary(str(path), "npz", {x_key: info.input_shape}, info.label_names, (part,))
