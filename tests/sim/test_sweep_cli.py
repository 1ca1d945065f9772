"""`p2pfed sweep` (`p2pfed.cli.sweep`): a bad sweep file is a P2PFedError; --help shows the sweep file format."""

from __future__ import annotations

import typer
from helpers import cli_app
from typer.testing import CliRunner

from p2pfed.cli import sweep as sweep_cli
from p2pfed.errors import P2PFedError


def _app() -> typer.Typer:
    return cli_app('sweep', sweep_cli.sweep)


def test_cli_sweep_refuses_a_bad_sweep_file_with_a_p2pfed_error(tmp_path):
    (tmp_path / "bad.toml").write_text('spec = "missing.toml"\n[grid]\n"sim.seed" = [0]\n')
    r = CliRunner().invoke(_app(), ["sweep", str(tmp_path / "bad.toml")])
    assert isinstance(r.exception, P2PFedError) and "spec 'missing.toml' not found" in str(r.exception)
    r = CliRunner().invoke(_app(), ["sweep", "--help"])
    assert r.exit_code == 0 and '"churn.availability" = [1.0, 0.5, 0.25, 0.1]' in r.output
