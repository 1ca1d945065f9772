"""A tiny UCI HAR download written with the official file names and number format (for the data tests)."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from p2pfed.data import uci_har as U

LABELS = ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING")
#: train volunteers 1 and 3, test volunteer 2 (as in the official split), 12 windows each
SUBJECTS = {"train": (1, 3), "test": (2,)}
PER_SUBJECT = 12


def official_number(v: float) -> str:
    """A float as the official files write it: 7 decimals and a 3-digit exponent ("2.8858451e-001")."""
    if not np.isfinite(v):
        return str(v)  # "nan", "inf": what a broken export writes
    mantissa, exp = f"{v:.7e}".split("e")
    return f"{mantissa}e{exp[0]}{abs(int(exp)):03d}"


def official_line(values: np.ndarray) -> str:
    """One row, each number right-aligned in 16 characters ("  2.8858451e-001 -2.0294171e-002")."""
    return "".join(f"{official_number(float(v)):>16}" for v in values)


def _feature_names() -> list[str]:
    first = ["tBodyAcc-mean()-X", "tBodyAcc-mean()-Y", "tBodyAcc-mean()-Z", "tBodyAcc-std()-X"]
    return first + [f"fBodyGyro-bandsEnergy()-{i},{i + 8}" for i in range(len(first), U.N_FEATURES)]


@dataclasses.dataclass
class Fixture:
    root: Path  # the "UCI HAR Dataset" folder
    X: dict[str, np.ndarray]  # part -> (n, 561) values as written
    raw: dict[str, np.ndarray]  # part -> (n, 9, 128)
    y: dict[str, np.ndarray]  # part -> 1-based labels as written
    subject: dict[str, np.ndarray]


def build_uci_har(base: Path) -> Fixture:
    """Write a tiny UCI HAR download under base/"UCI HAR Dataset" with the official names and formats."""
    rng = np.random.default_rng(7)
    root = base / U.ROOT
    (root / "train" / "Inertial Signals").mkdir(parents=True)
    (root / "test" / "Inertial Signals").mkdir(parents=True)
    (root / "activity_labels.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(LABELS)))
    (root / "features.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(_feature_names())))
    (root / "README.txt").write_text("Human Activity Recognition Using Smartphones Dataset\nVersion 1.0\n")
    (root / "features_info.txt").write_text("Feature Selection\n=================\n")
    fx = Fixture(root, {}, {}, {}, {})
    for part, subjects in SUBJECTS.items():
        subject = np.repeat(subjects, PER_SUBJECT)
        y = np.tile(np.arange(1, 7), len(subject) // 6)
        X = np.clip(rng.normal(0.1 * y[:, None], 0.4, (len(y), U.N_FEATURES)), -1, 1)
        raw = rng.normal(0.0, 0.3, (len(y), len(U.CHANNELS), U.WINDOW)) * y[:, None, None] / 3
        d = root / part
        (d / f"X_{part}.txt").write_text("".join(official_line(r) + "\n" for r in X))
        (d / f"y_{part}.txt").write_text("".join(f"{v}\n" for v in y))
        (d / f"subject_{part}.txt").write_text("".join(f"{v}\n" for v in subject))
        for c, name in enumerate(U.CHANNELS):
            rows = "".join(official_line(r) + "\n" for r in raw[:, c, :])
            (d / "Inertial Signals" / f"{name}_{part}.txt").write_text(rows)
        fx.X[part], fx.raw[part], fx.y[part], fx.subject[part] = X, raw, y, subject
    return fx


def zip_folder(root: Path, out: Path) -> Path:
    """Zip the dataset folder as the official download does (with macOS resource-fork entries)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(root.rglob("*")):
            name = f"{U.ROOT}/{f.relative_to(root).as_posix()}"
            z.write(f, name + ("/" if f.is_dir() else ""))
            if f.is_file():
                z.writestr(f"__MACOSX/{U.ROOT}/._{f.name}", b"\x00\x05\x16\x07")
    return out
