"""Tests of the .npz person-data reader: every user mistake is a clear DataError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pfed.data import npz
from p2pfed.errors import DataError

HAPT = Path(__file__).resolve().parents[3] / "shared/data/uci_hapt"


def _arrays(
    n: int = 12, d: int = 3, subjects: tuple[int, ...] = (1, 2, 3)
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "X": rng.normal(size=(n, d)).astype(np.float32),
        "y": np.arange(n, dtype=np.int64) % 3,
        "subject": np.array([subjects[i % len(subjects)] for i in range(n)], dtype=np.int64),
    }


def _write(tmp_path: Path, name: str = "d.npz", **arrays: np.ndarray) -> Path:
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


def test_loads_only_the_requested_subjects_in_file_order(tmp_path: Path) -> None:
    a = _arrays()
    p = _write(tmp_path, **a)
    d = npz.load_npz(p, [3, 1])
    rows = np.flatnonzero(np.isin(a["subject"], [1, 3]))
    np.testing.assert_array_equal(d.X, a["X"][rows])
    np.testing.assert_array_equal(d.y, a["y"][rows])
    np.testing.assert_array_equal(d.subject, a["subject"][rows])
    assert d.X.dtype == np.float32 and d.y.dtype == np.int64
    assert d.info.subjects == (1, 2, 3) and npz.list_subjects(p) == (1, 2, 3)
    assert d.info.input_shape == (3,) and d.info.n_rows == 12
    assert d.info.feature_names == ("x0", "x1", "x2")
    assert d.info.label_names == ("class0", "class1", "class2")


def test_n_classes_comes_from_the_whole_file_not_the_subjects(tmp_path: Path) -> None:
    a = _arrays()
    a["y"] = np.where(a["subject"] == 3, 4, 0)  # only subject 3 has label 4
    p = _write(tmp_path, **a)
    assert npz.load_npz(p, [1]).info.n_classes == 5
    names = np.array(["a", "b", "c", "d", "e", "f", "g"])
    p2 = _write(tmp_path, "named.npz", **a, label_names=names)
    info = npz.load_npz(p2, [1]).info
    assert info.n_classes == 7 and info.label_names == tuple(names)


def test_extra_keys_names_and_other_inputs(tmp_path: Path) -> None:
    a = _arrays(d=2)
    raw = np.zeros((12, 2, 5), np.float16)
    p = _write(
        tmp_path, **a, X_raw=raw, feature_names=np.array(["hr", "steps"]), channels=np.array(["u", "v"])
    )
    assert npz.load_npz(p).info.feature_names == ("hr", "steps")
    d = npz.load_npz(p, [2], x_key="X_raw")
    assert d.X.shape == (4, 2, 5) and d.X.dtype == np.float32
    assert d.info.input_shape == (2, 5) and d.info.feature_names == ("u", "v")


def test_compressed_files_and_whole_number_float_labels(tmp_path: Path) -> None:
    a = _arrays()
    a["y"] = a["y"].astype(np.float64)
    a["subject"] = a["subject"].astype(np.int8)
    p = tmp_path / "c.npz"
    np.savez_compressed(p, **a)
    d = npz.load_npz(p)
    assert d.y.dtype == np.int64 and len(d.y) == 12 and d.info.n_classes == 3


def test_nan_in_other_subjects_rows_does_not_block_mine(tmp_path: Path) -> None:
    a = _arrays()
    a["X"][a["subject"] == 2] = np.nan
    p = _write(tmp_path, **a)
    assert len(npz.load_npz(p, [1, 3]).y) == 8
    with pytest.raises(DataError, match=r"NaN or Inf .* 4 row\(s\).*subject 2"):
        npz.load_npz(p, [2])


# ---- every user mistake ----------------------------------------------------------------------


def _expect(path: Path, match: str, subjects: list[int] | None = None, x_key: str = "X") -> None:
    with pytest.raises(DataError, match=match):
        npz.load_npz(path, subjects, x_key)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    _expect(tmp_path / "nope.npz", "file not found")
    _expect(tmp_path, "not a file")
    with pytest.raises(DataError, match="file not found"):
        npz.list_subjects(tmp_path / "nope.npz")


def test_not_an_npz(tmp_path: Path) -> None:
    text = tmp_path / "t.npz"
    text.write_text("subject,X,y\n1,2,3\n")
    _expect(text, "not an .npz")
    single = tmp_path / "a.npy"
    np.save(single, np.zeros(3))
    _expect(single, "single .npy array")
    broken = tmp_path / "b.npz"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    _expect(broken, "cannot read")


@pytest.mark.parametrize("key", ["X", "y", "subject"])
def test_missing_key_lists_what_is_there(tmp_path: Path, key: str) -> None:
    a = _arrays()
    del a[key]
    _expect(_write(tmp_path, **a), rf"no array '{key}' \(it has: .*\)")


def test_pickled_object_arrays_are_refused(tmp_path: Path) -> None:
    a = _arrays()
    a["y"] = np.array([{"label": 1}] * 12, dtype=object)
    _expect(_write(tmp_path, **a), "cannot be loaded without pickle")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"X": np.zeros(12, np.float32)}, r"must have shape \(n, features"),
        ({"X": np.zeros((12, 0), np.float32)}, r"must have shape \(n, features"),
        ({"X": np.array([["a"]] * 12)}, "numeric"),
        ({"X": np.zeros((12, 3), complex)}, "numeric"),
        ({"X": np.zeros((11, 3), np.float32)}, "same number of rows"),
        ({"y": np.zeros((12, 1), np.int64)}, "y must be 1-D"),
        ({"y": np.full(12, 0.5)}, "whole numbers"),
        ({"y": np.array(["a"] * 12)}, "y must be integers"),
        ({"y": np.array([0, 1, -1] * 4)}, "labels must be >= 0"),
        ({"y": np.array([0, 1, np.nan] * 4)}, "y contains NaN"),
        ({"subject": np.array(["s1"] * 12)}, "subject must be integers"),
        ({"subject": np.ones(13, np.int64)}, "same number of rows"),
        ({"label_names": np.array(["a", "b"])}, "label 2 is out of range"),
        ({"label_names": np.array([], dtype="<U1")}, "label_names is empty"),
        ({"label_names": np.arange(3)}, "label_names must be a 1-D array of strings"),
    ],
)
def test_malformed_arrays(tmp_path: Path, change: dict, match: str) -> None:
    a = {**_arrays(), **change}
    _expect(_write(tmp_path, **a), match)


def test_empty_file(tmp_path: Path) -> None:
    a = {"X": np.zeros((0, 3), np.float32), "y": np.zeros(0, int), "subject": np.zeros(0, int)}
    _expect(_write(tmp_path, **a), "no rows")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_non_finite_features(tmp_path: Path, bad: float) -> None:
    a = _arrays()
    X = a["X"].astype(np.float64)
    X[4, 1] = bad
    a["X"] = X
    _expect(_write(tmp_path, **a), r"NaN or Inf .* first at row 4")


def test_subject_mistakes(tmp_path: Path) -> None:
    p = _write(tmp_path, **_arrays())
    _expect(p, r"no rows for subject\(s\) 7, 9 \(available subjects: 1, 2, 3\)", [1, 7, 9])
    _expect(p, r"subject\(s\) 2 more than once", [2, 1, 2])
    _expect(p, "is empty", [])
    _expect(p, "integer subject ids", ["1"])  # type: ignore[list-item]


def test_missing_x_key(tmp_path: Path) -> None:
    _expect(_write(tmp_path, **_arrays()), "no array 'X_raw'", x_key="X_raw")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    subjects=st.lists(st.integers(-5, 40), min_size=1, max_size=40),
    pick=st.data(),
)
def test_loading_any_subset_returns_exactly_its_rows(
    tmp_path: Path, subjects: list[int], pick: st.DataObject
) -> None:
    n = len(subjects)
    subject = np.array(subjects, dtype=np.int64)
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.array([s % 4 for s in subjects]) % 4
    p = _write(tmp_path, "h.npz", X=X, y=y, subject=subject)
    available = sorted(set(subjects))
    wanted = pick.draw(st.lists(st.sampled_from(available), min_size=1, unique=True))
    d = npz.load_npz(p, wanted)
    rows = np.flatnonzero(np.isin(subject, wanted))
    np.testing.assert_array_equal(d.X, X[rows])
    np.testing.assert_array_equal(d.subject, subject[rows])
    assert d.info.n_classes == int(y.max()) + 1
    assert npz.list_subjects(p) == tuple(available)


# ---- the shared UCI HAR / HAPT fixture -------------------------------------------------------


@pytest.fixture
def tiny() -> Path:
    p = HAPT / "tiny.npz"
    if not p.is_file():
        pytest.skip(f"{p} is absent (the shared UCI HAPT data sits beside the checkout)")
    return p


def test_tiny_hapt(tiny: Path) -> None:
    assert npz.list_subjects(tiny) == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14)
    d = npz.load_npz(tiny, [1, 2])
    assert d.X.shape == (48, 174) and d.X.dtype == np.float32
    assert set(d.subject.tolist()) == {1, 2}
    assert d.info.n_classes == 6 and d.info.label_names[0] == "WALKING"
    assert d.info.feature_names[0] == "acc_x_mean" and len(d.info.feature_names) == 174
    assert np.bincount(d.y).tolist() == [8] * 6
    with pytest.raises(DataError, match="available subjects: 1, 2, 3, 4"):
        npz.load_npz(tiny, [30])
