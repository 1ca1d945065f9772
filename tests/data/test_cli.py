"""Tests of `p2pfed data info` and `p2pfed data convert-uci-har` (the typer commands, in process)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from p2pfed.cli.data import app
from p2pfed.config import DataConfig
from p2pfed.data import load_federation
from p2pfed.errors import DataError
from uci_har_download import LABELS, build_uci_har, zip_folder

runner = CliRunner()


def test_info_on_the_uci_har_zip(tmp_path: Path) -> None:
    fx = build_uci_har(tmp_path / "dl")
    z = zip_folder(fx.root, tmp_path / "UCI HAR Dataset.zip")
    r = runner.invoke(app, ["info", str(z)])
    assert r.exit_code == 0, r.output
    assert "UCI HAR download" in r.output and "input X: 561 per row" in r.output
    assert "input X_raw: 9 x 128 per row" in r.output
    assert "train: 24 rows, 2 subjects (1, 3)" in r.output and "test: 12 rows, 1 subjects (2)" in r.output
    assert "0 WALKING" in r.output and "LAYING" in r.output and "16.7%" in r.output


def test_info_on_an_npz(tmp_path: Path) -> None:
    p = tmp_path / "d.npz"
    y, subject = np.array([0, 1, 1, 2, 2]), np.array([7, 7, 8, 8, 8])
    np.savez(p, X=np.zeros((5, 3), np.float32), y=y, subject=subject)
    r = runner.invoke(app, ["info", str(p)])
    assert r.exit_code == 0, r.output
    assert "input X: 3 per row" in r.output and "all: 5 rows, 2 subjects (7, 8)" in r.output
    assert "class2        2   40.0%" in r.output


def test_convert_then_use_as_npz(tmp_path: Path) -> None:
    fx = build_uci_har(tmp_path / "dl")
    out = tmp_path / "har.npz"
    r = runner.invoke(app, ["convert-uci-har", str(fx.root), "-o", str(out), "--split", "train"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "24 windows of 2 subjects (1, 3)" in r.output
    nodes = load_federation(DataConfig(source="npz", path=str(out), x_key="X_raw"))
    assert [n.meta["subjects"] for n in nodes] == [[1], [3]] and nodes[0].input_shape == (9, 128)
    assert nodes[0].label_names == LABELS


def test_user_mistakes_raise_data_errors(tmp_path: Path) -> None:
    """The app's main() turns these into 'error: ...' and exit code 2."""
    r = runner.invoke(app, ["info", str(tmp_path / "missing.zip")])
    assert isinstance(r.exception, DataError) and "not found" in str(r.exception)
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=np.zeros((2, 2)), y=np.array([0, 1]))
    r = runner.invoke(app, ["info", str(bad)])
    assert isinstance(r.exception, DataError) and "no array 'subject'" in str(r.exception)
    fx = build_uci_har(tmp_path / "dl")
    r = runner.invoke(app, ["convert-uci-har", str(fx.root), "-o", str(tmp_path / "no" / "x.npz")])
    assert isinstance(r.exception, DataError) and "folder not found" in str(r.exception)


@pytest.mark.parametrize("args", [["info", "--help"], ["convert-uci-har", "--help"]])
def test_help(args: list[str]) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "UCI HAR" in r.output
