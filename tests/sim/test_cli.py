"""The simulator's command line: `p2pfed simulate`, `sweep`, `plot` and `report` on real (tiny) runs.

Successful commands run in-process through typer's CliRunner (the simulator itself is what is
being run, so this is fast); user mistakes run `p2pfed` as a subprocess, because the exit code 2
and the one-line message without a traceback are produced by the real entry point.
"""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from p2pfed.cli.app import app

SPECS = Path(__file__).resolve().parents[1] / "sim_specs"
TINY = SPECS / "tiny.toml"
P2PFED = Path(sys.executable).parent / "p2pfed"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True, scope="module")
def _keep_logging() -> Iterator[None]:
    """The commands call setup_logging, which replaces the root logger's handlers: put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def read_records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# --- simulate ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("cli") / "run"
    return invoke("simulate", TINY, "-q", "-o", out, "--set", "sim.seed=3"), out


def test_simulate_writes_the_run_folder(sim_run: tuple[Result, Path]) -> None:
    result, out = sim_run
    assert result.exit_code == 0, result.output
    for name in ("spec.toml", "metrics.jsonl", "summary.json", "evaluation.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["name"], summary["nodes"], summary["seed"], summary["duration"]) == ("tiny", 8, 3, 6.0)
    assert [r["t"] for r in read_records(out)] == [0.0, 2.0, 4.0, 6.0]
    assert "seed = 3" in (out / "spec.toml").read_text()
    assert "held-out accuracy, mean over nodes" in result.output
    assert "real encryption and signatures" in result.output
    assert f"p2pfed report {out}" in result.output.replace("\n", "")


def p2pfed(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [str(P2PFED), *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("spec_text", "extra", "message"),
    [
        ("[sim]\nnodes = 8\ndurration = 5.0\n", (), "bad.toml: unknown key(s) sim.durration (known: algo"),
        ("[sim]\nnodes = 8\n", ("--set", "sim.algorithm='gosip'"), "sim.algorithm 'gosip' is unknown"),
        ("[sim]\nnodes = 8\n", ("--set", "network.loss=1.5"), "network.loss must be in [0, 1)"),
    ],
    ids=["unknown-key", "unknown-algorithm", "out-of-range"],
)
def test_a_bad_spec_exits_2_with_a_message_and_no_traceback(
    tmp_path: Path, spec_text: str, extra: tuple[str, ...], message: str
) -> None:
    (tmp_path / "bad.toml").write_text(spec_text)
    proc = p2pfed("simulate", "bad.toml", "-q", "-o", "out", *extra, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing is created for a spec that does not load


# --- sweep and plot ----------------------------------------------------------------------------------


SWEEP_SETS = ("--set", "sim.fast=true", "--set", "sim.duration=4.0")


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path, Path]:
    base = tmp_path_factory.mktemp("sweep")
    sweep_file = base / "tiny-sweep.toml"
    sweep_file.write_text(
        f'spec = "{TINY.as_posix()}"\nout = "ignored"\n\n'
        '[grid]\n"sim.algorithm" = ["gossip", "local"]\n"sim.seed" = [0, 1]\n'
    )
    out = base / "out"
    result = invoke("sweep", sweep_file, "--jobs", "2", "-o", out, *SWEEP_SETS)
    return result, sweep_file, out


def test_sweep_runs_every_point_and_tabulates(sweep_run: tuple[Result, Path, Path]) -> None:
    result, _, out = sweep_run
    assert result.exit_code == 0, result.output
    names = [
        "sim.algorithm=gossip,sim.seed=0", "sim.algorithm=gossip,sim.seed=1",
        "sim.algorithm=local,sim.seed=0", "sim.algorithm=local,sim.seed=1",
    ]
    for name in names:
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["duration"] == 4.0 and summary["fast"] is True
        assert [r["t"] for r in read_records(out / name)] == [0.0, 2.0, 4.0]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["point"] for r in rows] == names
    assert all(r["status"] == "ok" for r in rows)
    assert [r["seed"] for r in rows] == ["0", "1", "0", "1"]
    acc = {(r["sim.algorithm"], r["seed"]): float(r["acc_mean"]) for r in rows}
    for seed in ("0", "1"):
        assert acc[("gossip", seed)] > acc[("local", seed)]  # the point of gossiping, visible in the table
    md = (out / "summary.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| gossip") or line.startswith("| local")]
    assert len(table) == 2 and all("| 2/2 |" in line for line in table)
    assert "4 points, 4 complete, 0 failed" in md
    assert "4 run, 0 skipped, 0 failed" in result.output


def test_a_rerun_sweep_skips_the_finished_points(sweep_run: tuple[Result, Path, Path]) -> None:
    _, sweep_file, out = sweep_run
    again = invoke("sweep", sweep_file, "--jobs", "2", "-o", out, *SWEEP_SETS)
    assert again.exit_code == 0, again.output
    assert "0 run, 4 skipped, 0 failed" in again.output


def test_plot_draws_a_sweep_and_single_runs(
    sweep_run: tuple[Result, Path, Path], sim_run: tuple[Result, Path], tmp_path: Path
) -> None:
    _, _, out = sweep_run
    fig = tmp_path / "sweep.png"
    result = invoke("plot", out, "-o", fig)
    assert result.exit_code == 0, result.output
    assert fig.read_bytes().startswith(PNG) and fig.stat().st_size > 10_000
    runs_fig = tmp_path / "runs.svg"
    local = out / "sim.algorithm=local,sim.seed=0"
    result = invoke("plot", sim_run[1], local, "-o", runs_fig, "--metrics", "acc_mean,online,age_mean")
    assert result.exit_code == 0, result.output
    assert runs_fig.read_text().lstrip().startswith(("<?xml", "<svg"))


# --- report -------------------------------------------------------------------------------------------


def test_report_on_a_simulation_run(sim_run: tuple[Result, Path]) -> None:
    _, run = sim_run
    result = invoke("report", run)
    assert result.exit_code == 0, result.output
    md = (run / "report.md").read_text()
    assert md.startswith("# p2pfed run report")
    assert "8 nodes evaluated" in md and "confusion.png" in md
    assert (run / "confusion.png").read_bytes().startswith(PNG)
    assert (run / "accuracy.png").read_bytes().startswith(PNG)  # the simulator's metrics over virtual time
    final = json.loads((run / "summary.json").read_text())["final"]
    assert f"{100 * final['acc_mean']:.1f}%" in md
