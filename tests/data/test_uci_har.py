"""Tests of the official UCI HAR reader on a tiny dataset built in the exact official layout."""

from __future__ import annotations

import dataclasses
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfed.config import DataConfig
from p2pfed.data import data_info, load_federation, load_heldout, load_local, node_configs, npz
from p2pfed.data import uci_har as U
from p2pfed.data import uci_har_text as T
from p2pfed.errors import DataError

from uci_har_download import LABELS, Fixture, build_uci_har, official_line, official_number, zip_folder


@pytest.fixture
def har(tmp_path: Path) -> Fixture:
    return build_uci_har(tmp_path / "download")


def _rewrite_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line] = text
    path.write_text("\n".join(lines) + "\n")


# ---- the fixture itself is the official format -------------------------------------------------


def test_fixture_uses_the_official_number_format(har: Fixture) -> None:
    assert official_number(0.28858451) == "2.8858451e-001"
    assert official_line(np.array([0.28858451, -0.020294171])) == "  2.8858451e-001 -2.0294171e-002"
    first = (har.root / "train" / "X_train.txt").read_text().splitlines()[0]
    assert len(first.split()) == 561 and first.startswith(" ") and "e-00" in first
    signal = (har.root / "train" / "Inertial Signals" / "body_acc_x_train.txt").read_text().splitlines()
    assert len(signal) == 24 and all(len(s.split()) == 128 for s in signal)


# ---- loading -----------------------------------------------------------------------------------


def _check_against(d: U.UciHarData, fx: Fixture, parts: tuple[str, ...]) -> None:
    X = np.concatenate([fx.X[p] for p in parts])
    raw = np.concatenate([fx.raw[p] for p in parts])
    assert d.X is not None and d.X.dtype == np.float32 and d.X.shape == (len(X), 561)
    assert d.X_raw is not None and d.X_raw.dtype == np.float32 and d.X_raw.shape == (len(X), 9, 128)
    np.testing.assert_allclose(d.X, X, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d.X_raw, raw, rtol=1e-6, atol=1e-7)  # channels x time
    np.testing.assert_array_equal(d.y, np.concatenate([fx.y[p] for p in parts]) - 1)
    np.testing.assert_array_equal(d.subject, np.concatenate([fx.subject[p] for p in parts]))
    assert d.y.dtype == np.int64 and d.y.min() == 0 and d.y.max() == 5
    is_test = np.concatenate([np.full(len(fx.y[p]), p == "test") for p in parts])
    np.testing.assert_array_equal(d.is_test, is_test)


def test_loads_the_extracted_folder(har: Fixture) -> None:
    d = U.load_uci_har(har.root)
    _check_against(d, har, ("train", "test"))
    assert d.info.label_names == LABELS and d.info.feature_names[0] == "tBodyAcc-mean()-X"
    assert len(d.info.feature_names) == 561 and d.info.channels[0] == "body_acc_x"
    assert d.info.subjects == {"train": (1, 3), "test": (2,)}
    assert d.info.rows == {"train": 24, "test": 12}
    assert d.info.label_counts["train"] == (4,) * 6
    # the folder that contains "UCI HAR Dataset" works too
    _check_against(U.load_uci_har(har.root.parent, ("test",)), har, ("test",))


def test_loads_the_zip_without_extracting(har: Fixture, tmp_path: Path) -> None:
    z = zip_folder(har.root, tmp_path / "UCI HAR Dataset.zip")
    before = set(tmp_path.rglob("*"))
    _check_against(U.load_uci_har(z), har, ("train", "test"))
    assert set(tmp_path.rglob("*")) == before


def test_loads_the_zip_nested_in_the_repository_download(har: Fixture, tmp_path: Path) -> None:
    inner = zip_folder(har.root, tmp_path / "UCI HAR Dataset.zip")
    outer = tmp_path / "human+activity+recognition+using+smartphones.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.write(inner, "UCI HAR Dataset.zip")
        z.writestr("UCI HAR Dataset.names", "Human Activity Recognition Using Smartphones\n")
    _check_against(U.load_uci_har(outer, ("train",)), har, ("train",))


def test_subject_filter_and_parts(har: Fixture) -> None:
    d = U.load_uci_har(har.root, ("train",), ("X",), subjects=[3])
    assert d.X_raw is None and d.X is not None and d.X.shape == (12, 561)
    assert set(d.subject.tolist()) == {3} and not d.is_test.any()
    np.testing.assert_allclose(d.X, har.X["train"][12:], rtol=1e-6, atol=1e-7)
    with pytest.raises(DataError, match=r"subject\(s\) 2 in the train part \(available subjects: 1, 3\)"):
        U.load_uci_har(har.root, ("train",), ("X",), subjects=[2])
    with pytest.raises(DataError, match="parts must be among"):
        U.load_uci_har(har.root, ("validation",))
    assert U.read_subjects(har.root, "test") == (2,)


def test_convert_writes_the_documented_npz(har: Fixture, tmp_path: Path) -> None:
    out = U.convert(zip_folder(har.root, tmp_path / "h.zip"), tmp_path / "har.npz")
    with np.load(out, allow_pickle=False) as z:
        keys = {"X", "X_raw", "y", "subject", "is_test", "feature_names", "channels", "label_names"}
        assert set(z.files) == keys
        assert z["X"].shape == (36, 561) and z["X_raw"].shape == (36, 9, 128)
        assert tuple(z["label_names"]) == LABELS and z["is_test"].sum() == 12
    info = npz.read_info(out)
    assert info.n_classes == 6 and info.subjects == (1, 2, 3) and info.feature_names[1] == "tBodyAcc-mean()-Y"
    assert npz.read_info(out, "X_raw").feature_names == U.CHANNELS
    train = U.convert(har.root, tmp_path / "train.npz", split="train")
    assert npz.list_subjects(train) == (1, 3)
    with pytest.raises(DataError, match="must end in .npz"):
        U.convert(har.root, tmp_path / "har.txt")
    with pytest.raises(DataError, match="split must be one of"):
        U.convert(har.root, tmp_path / "x.npz", split="valid")


# ---- as a node's data source -------------------------------------------------------------------


def test_uci_har_source_by_subject(har: Fixture, tmp_path: Path) -> None:
    cfg = DataConfig(source="uci-har", path=str(har.root), users=(3,))
    d = load_local(cfg)
    assert d.meta["subjects"] == [3] and d.meta["group"] == "subject 3" and d.meta["source"] == "uci-har"
    assert d.n_classes == 6 and d.input_shape == (561,) and d.label_names == LABELS
    assert len(d.train) == 9 and len(d.test) == 3 and d.meta["standardize"] == "person"
    np.testing.assert_allclose(d.train.X.mean(axis=0), 0.0, atol=1e-5)
    raw = load_local(dataclasses.replace(cfg, x_key="X_raw"))
    assert raw.input_shape == (9, 128) and raw.feature_names == U.CHANNELS
    info = data_info(cfg)
    assert info.input_shape == (561,) and info.label_names == LABELS
    held = load_heldout(cfg)  # the official test volunteers
    assert held is not None and len(held) == 12 and held.X.shape == (12, 561)
    assert held.groups is not None and set(held.groups.tolist()) == {"subject 2"}
    # the converted npz, used as data.source = "npz", gives the same node
    conv = U.convert(har.root, tmp_path / "train.npz", split="train")
    same = load_local(DataConfig(source="npz", path=str(conv), users=(3,)))
    np.testing.assert_allclose(same.train.X, d.train.X, atol=1e-6)
    np.testing.assert_array_equal(same.test.y, d.test.y)


def test_uci_har_federation_is_one_node_per_train_volunteer(har: Fixture) -> None:
    zipped = zip_folder(har.root, har.root.parent / "UCI HAR Dataset.zip")
    cfg = DataConfig(source="uci-har", path=str(zipped))
    nodes = load_federation(cfg)
    assert [n.meta["subjects"] for n in nodes] == [[1], [3]]
    for node, node_cfg in zip(nodes, node_configs(cfg)):
        alone = load_local(node_cfg)
        np.testing.assert_array_equal(alone.train.X, node.train.X)
        assert alone.meta == node.meta
    with pytest.raises(DataError, match=r"subject\(s\) 2 in the train part"):
        load_local(dataclasses.replace(cfg, users=(2,)))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"x_key": "X_body"}, "data.x_key must be one of 'X', 'X_raw'"),
        ({"eval_path": "test.npz"}, "official test volunteers"),
        ({"path": ""}, "data.path is empty: data.source = 'uci-har'"),
    ],
)
def test_uci_har_config_mistakes(har: Fixture, change: dict, match: str) -> None:
    cfg = dataclasses.replace(DataConfig(source="uci-har", path=str(har.root), users=(1,)), **change)
    with pytest.raises(DataError, match=match):
        load_local(cfg)


# ---- every mistake is a clear message ----------------------------------------------------------


def test_missing_file_names_it(har: Fixture) -> None:
    (har.root / "train" / "Inertial Signals" / "body_gyro_y_train.txt").unlink()
    missing = r"missing UCI HAR Dataset/train/Inertial Signals/body_gyro_y_train.txt"
    with pytest.raises(DataError, match=missing):
        U.load_uci_har(har.root)
    U.load_uci_har(har.root, arrays=("X",))  # not needed for the 561 features
    with pytest.raises(DataError, match="body_gyro_y_train.txt"):
        U.read_info(har.root)
    (har.root / "activity_labels.txt").unlink()
    with pytest.raises(DataError, match="missing UCI HAR Dataset/activity_labels.txt"):
        U.load_uci_har(har.root, arrays=("X",))


def test_missing_file_in_a_zip(har: Fixture, tmp_path: Path) -> None:
    (har.root / "test" / "subject_test.txt").unlink()
    z = zip_folder(har.root, tmp_path / "h.zip")
    missing = r"h.zip: missing UCI HAR Dataset/test/subject_test.txt; the official layout"
    with pytest.raises(DataError, match=missing):
        U.load_uci_har(z)


def test_row_count_mismatches(har: Fixture) -> None:
    y = har.root / "train" / "y_train.txt"
    y.write_text("".join(y.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(DataError, match=r"y_train.txt has 23 rows but train/subject_train.txt has 24"):
        U.load_uci_har(har.root)
    shutil.rmtree(har.root.parent)
    fx = build_uci_har(har.root.parent)
    X = fx.root / "test" / "X_test.txt"
    X.write_text("".join(X.read_text().splitlines(keepends=True)[:-2]))
    with pytest.raises(DataError, match=r"test/X_test.txt has 10 rows but test/y_test.txt has 12"):
        U.load_uci_har(fx.root, ("test",))
    with pytest.raises(DataError, match=r"X_test.txt has 10 rows"):
        U.read_info(fx.root)


def test_wrong_column_count(har: Fixture) -> None:
    X = har.root / "train" / "X_train.txt"
    _rewrite_line(X, 4, official_line(np.zeros(560)))
    with pytest.raises(DataError, match=r"X_train.txt: line 5 has 560 values, expected 561"):
        U.load_uci_har(har.root)
    sig = har.root / "test" / "Inertial Signals" / "total_acc_z_test.txt"
    _rewrite_line(sig, 0, official_line(np.zeros(64)))
    with pytest.raises(DataError, match=r"total_acc_z_test.txt: line 1 has 64 values, expected 128"):
        U.load_uci_har(har.root, ("test",), ("X_raw",))


def test_nan_and_garbage_values(har: Fixture) -> None:
    X = har.root / "train" / "X_train.txt"
    row = har.X["train"][2].copy()
    row[10] = np.nan
    _rewrite_line(X, 2, official_line(row))
    with pytest.raises(DataError, match=r"X_train.txt: line 3 has NaN or Inf"):
        U.load_uci_har(har.root)
    _rewrite_line(X, 2, official_line(har.X["train"][2]).replace("e-001", "e-0x1", 1))
    with pytest.raises(DataError, match=r"X_train.txt: line 3: '.*e-0x1' is not a number"):
        U.load_uci_har(har.root)


@pytest.mark.parametrize(
    ("label", "match"),
    [("7", "label 7 is out of range 1..6"), ("0", "label 0 is out of range"), ("2.5", "whole numbers")],
)
def test_labels_out_of_range(har: Fixture, label: str, match: str) -> None:
    _rewrite_line(har.root / "test" / "y_test.txt", 5, label)
    with pytest.raises(DataError, match=match):
        U.load_uci_har(har.root, ("test",))


def test_bad_subjects_and_names(har: Fixture) -> None:
    _rewrite_line(har.root / "train" / "subject_train.txt", 0, "-4")
    with pytest.raises(DataError, match="subject id -4 must be >= 1"):
        U.load_uci_har(har.root, ("train",))
    _rewrite_line(har.root / "train" / "subject_train.txt", 0, "1")
    _rewrite_line(har.root / "features.txt", 3, "4")
    with pytest.raises(DataError, match=r"features.txt: line 4 should be '<number> <name>'"):
        U.read_names(har.root)
    _rewrite_line(har.root / "features.txt", 3, "4 tBodyAcc-std()-X")
    features = har.root / "features.txt"
    features.write_text("".join(features.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(DataError, match="lists 560 features, expected 561"):
        U.read_names(har.root)
    (har.root / "activity_labels.txt").write_text("1 WALKING\n3 SITTING\n")
    with pytest.raises(DataError, match="activity ids must be 1, 2, ... in order"):
        U.load_uci_har(har.root)


def test_not_the_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        U.load_uci_har(tmp_path / "nowhere.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no 'UCI HAR Dataset' dataset in this folder"):
        U.load_uci_har(tmp_path / "empty")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is no zip")
    with pytest.raises(DataError, match="not a zip file or a folder"):
        U.load_uci_har(junk)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("data/readme.txt", "hello")
    with pytest.raises(DataError, match=r"holds no 'UCI HAR Dataset' dataset \(no train/y_train.txt\)"):
        U.load_uci_har(other)
    nested_bad = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested_bad, "w") as z:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as inner:
            inner.writestr("something/else.txt", "x")
        z.writestr("UCI HAR Dataset.zip", buf.getvalue())
    with pytest.raises(DataError, match="the nested UCI HAR Dataset.zip holds no train/y_train.txt"):
        U.load_uci_har(nested_bad)


# ---- the text parser ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=3, max_size=3), min_size=1, max_size=20
    ),
    crlf=st.booleans(),
)
def test_parser_reads_what_the_official_format_writes(values: list[list[float]], crlf: bool) -> None:
    a = np.array(values)
    text = "".join(official_line(r) + ("\r\n" if crlf else "\n") for r in a)
    np.testing.assert_allclose(T.matrix(text.encode(), 3, "f.txt"), a, rtol=1e-7, atol=1e-300)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200) | st.text("0123456789 .e-+\nnaif,", max_size=80).map(str.encode))
def test_parser_never_crashes(data: bytes) -> None:
    """Any bytes give either a finite (n, 2) array or a DataError, never another exception."""
    try:
        a = T.matrix(data, 2, "f.txt")
    except DataError as e:
        assert str(e).startswith("f.txt: ")
    else:
        assert a.ndim == 2 and a.shape[1] == 2 and np.isfinite(a).all()
    try:
        ids = T.ids(data, "y.txt", "labels")
    except DataError:
        pass
    else:
        assert ids.dtype == np.int64
