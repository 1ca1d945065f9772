"""Find and read the files of the official UCI HAR download, in its zip or its extracted folder.

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
``UCI HAR Dataset`` folder, or a folder that contains it. ``open_download`` gives read-only
access to the files under the dataset root; parsing them is ``uci_har_text``'s job.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Protocol

from p2pfed.errors import DataError

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
LAYOUT = (
    f"the official layout is '{ROOT}/' with activity_labels.txt, features.txt and, for train and "
    "test, X_<part>.txt, y_<part>.txt, subject_<part>.txt and 'Inertial Signals/<channel>_<part>.txt'"
)


def files(part: str) -> dict[str, str]:
    """Paths (relative to the dataset root) of one part's files, by what they hold."""
    out = {"X": f"{part}/X_{part}.txt", "y": f"{part}/y_{part}.txt", "subject": f"{part}/subject_{part}.txt"}
    for c in CHANNELS:
        out[c] = f"{part}/Inertial Signals/{c}_{part}.txt"
    return out


class Tree(Protocol):
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
def open_download(path: str | Path) -> Iterator[Tree]:
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
        raise DataError(f"{p}: no '{ROOT}' dataset in this folder (no train/ or {ROOT}/train/); {LAYOUT}")
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
                raise DataError(f"{p}: this zip holds no '{ROOT}' dataset (no train/y_train.txt); {LAYOUT}")
            try:
                inner = zipfile.ZipFile(io.BytesIO(outer.read(nested[0])))
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise DataError(f"{p}: the nested {nested[0]} is not a readable zip: {e}") from None
            z, prefix = inner, _zip_root(inner.namelist())
            if prefix is None:
                inner.close()
                raise DataError(f"{p}: the nested {nested[0]} holds no train/y_train.txt; {LAYOUT}")
        try:
            yield _ZipTree(z, prefix, str(p))
        finally:
            if inner is not None:
                inner.close()


def need(tree: Tree, rel: str) -> bytes:
    """The bytes of file `rel` under the dataset root, or a DataError naming the missing file."""
    if not tree.has(rel):
        raise DataError(f"{tree.where}: missing {ROOT}/{rel}; {LAYOUT}")
    return tree.read(rel)
