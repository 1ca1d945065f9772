"""Figures of simulation runs: loading run and sweep folders, lines and labels, aggregation, the PNG."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from helpers import cli_app
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from p2pfed.cli import plot as plot_cli
from p2pfed.config import parse_override
from p2pfed.errors import ConfigError, DataError, P2PFedError
from p2pfed.evaluation.plots import aggregate, differing_keys, load_runs, make_lines, plot_runs, short_keys, time_unit
from p2pfed.sim.sweep import load_sweep, run_sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(d: Path, *, spec: str = "", n: int = 30, dt: float = 60.0, avail: float = 0.5, seed: int = 0,
              nulls: bool = False) -> Path:
    """A run folder as the simulator writes it: spec.toml and one metrics record per interval."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "spec.toml").write_text(spec or f'[sim]\nname = "{d.name}"\nseed = {seed}\n[churn]\navailability = {avail}\n')
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        acc = 0.9 - 0.5 * math.exp(-i / 8) * avail + 0.01 * rng.standard_normal()
        rec: dict[str, Any] = {
            "t": dt * i, "acc_mean": acc, "acc_median": acc, "acc_p10": acc - 0.15, "local_acc_mean": acc + 0.05,
            "local_acc": {"n0": acc, "n1": acc}, "consensus": 2.0 * math.exp(-i / 5) + 1e-4, "online": avail,
            "msgs_per_node": 3 * i, "bytes_per_node": 40_000 * i, "age_mean": 5.0 * i, "staleness": 10.0,
            "rejections": 0,
        }
        if nulls and i % 7 == 3:  # nobody online: nothing measurable
            rec.update(acc_mean=None, acc_median=None, acc_p10=None, consensus=None, online=0.0)
        lines.append(json.dumps(rec))
    (d / "metrics.jsonl").write_text("\n".join(lines) + "\n" + '{"t": 99999, "acc_me')  # torn last line
    (d / "summary.json").write_text(json.dumps({"name": d.name, "seed": seed, "final": json.loads(lines[-1])}))
    return d


def is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and b"IEND" in data[-12:] and len(data) > 10_000


def sweep_runner(spec_path: Path, overrides: Sequence[str], point_dir: Path) -> dict[str, Any]:
    """Stands in for the simulator in a sweep: writes a run from the point's overrides."""
    values = {".".join(k): v for k, v in map(parse_override, overrides)}
    write_run(point_dir, avail=float(values["churn.availability"]), seed=int(values["sim.seed"]), n=20, dt=600.0)
    return json.loads((point_dir / "summary.json").read_text())


def make_sweep(tmp: Path) -> Path:
    (tmp / "base.toml").write_text("[sim]\n")
    (tmp / "sw.toml").write_text(
        f'spec = "base.toml"\nout = "{tmp / "sweep"}"\n'
        '[grid]\n"churn.availability" = [1.0, 0.25]\n"sim.seed" = [0, 1, 2]\n'
    )
    run_sweep(load_sweep(tmp / "sw.toml"), jobs=1, run_point=sweep_runner, check_point=None)
    return tmp / "sweep"


# ------------------------------------------------------------------------------------------
# figures


def test_plot_two_runs_writes_a_png(tmp_path):
    a = write_run(tmp_path / "full", avail=1.0)
    b = write_run(tmp_path / "quarter", avail=0.25, seed=1, nulls=True)
    out = plot_runs([a, b], tmp_path / "figs" / "fig.png", title="availability")
    assert out == tmp_path / "figs" / "fig.png" and is_png(out)


def test_plot_other_metrics_formats_and_a_sweep(tmp_path):
    a = write_run(tmp_path / "a")
    out = plot_runs([a], tmp_path / "one.svg", metrics=["local_acc_mean"], labels=["mine"])
    assert out.read_text().lstrip().startswith("<?xml") and "mine" in out.read_text()
    sweep = make_sweep(tmp_path)
    metrics = ["acc_mean", "consensus", "staleness", "msgs_per_node", "age_mean"]
    out = plot_runs([sweep, a], tmp_path / "sweep.png", metrics=metrics)
    assert is_png(out)


def test_bad_input_is_a_clear_error(tmp_path):
    good = write_run(tmp_path / "good")
    with pytest.raises(DataError, match="no such run or sweep folder"):
        plot_runs([tmp_path / "missing"], tmp_path / "f.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither a run folder"):
        plot_runs([tmp_path / "empty"], tmp_path / "f.png")
    (tmp_path / "empty" / "metrics.jsonl").write_text("")
    with pytest.raises(DataError, match="no metrics records"):
        plot_runs([good, tmp_path / "empty"], tmp_path / "f.png")
    with pytest.raises(ConfigError, match="unknown metric\\(s\\) acc_maen; known: acc_mean"):
        plot_runs([good], tmp_path / "f.png", metrics=["acc_maen"])
    with pytest.raises(ConfigError, match="--metrics is empty"):
        plot_runs([good], tmp_path / "f.png", metrics=[])
    with pytest.raises(ConfigError, match="2 label\\(s\\) for 1 line"):
        plot_runs([good], tmp_path / "f.png", labels=["a", "b"])
    with pytest.raises(ConfigError, match="unsupported figure format .jpeg"):
        plot_runs([good], tmp_path / "f.jpeg")
    with pytest.raises(ConfigError, match="has no churn.nope"):
        plot_runs([good], tmp_path / "f.png", group_by=["churn.nope"])
    (tmp_path / "badsweep").mkdir()
    (tmp_path / "badsweep" / "sweep.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a sweep manifest"):
        plot_runs([tmp_path / "badsweep"], tmp_path / "f.png")
    with pytest.raises(ConfigError, match="at least one run"):
        plot_runs([], tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()


def test_a_metric_without_values_gets_an_empty_panel_not_an_error(tmp_path):
    a = write_run(tmp_path / "a")
    text = (a / "metrics.jsonl").read_text().replace('"staleness": 10.0', '"staleness": null')
    (a / "metrics.jsonl").write_text(text)
    assert is_png(plot_runs([a], tmp_path / "f.png", metrics=["acc_mean", "staleness"]))
    # an unknown name that the records do carry as a number is drawn as is
    text = text.replace('"rejections": 0', '"rejections": 0, "drops": 1')
    (a / "metrics.jsonl").write_text(text)
    assert is_png(plot_runs([a], tmp_path / "g.png", metrics=["drops"]))


# ------------------------------------------------------------------------------------------
# lines, labels and aggregation


def test_labels_are_the_differing_spec_keys_else_folder_names(tmp_path):
    a = write_run(tmp_path / "x" / "run", avail=1.0)
    b = write_run(tmp_path / "y" / "run", avail=0.25)
    runs = load_runs([a, b])
    assert [r.params["churn.availability"] for r in runs] == [1.0, 0.25]
    assert differing_keys(runs) == ["churn.availability"]
    assert [ln.label for ln in make_lines(runs)] == ["availability=1", "availability=0.25"]
    same = '[sim]\nseed = 0\n[churn]\navailability = 0.5\n'
    c, d = write_run(tmp_path / "x" / "c", spec=same), write_run(tmp_path / "y" / "c", spec=same)
    assert [ln.label for ln in make_lines(load_runs([c, d]))] == ["x/c", "y/c"]
    e, f = write_run(tmp_path / "e", spec=same), write_run(tmp_path / "f", spec=same.replace("0.5", "0.1"))
    assert [ln.label for ln in make_lines(load_runs([e, f]))] == ["availability=0.5", "availability=0.1"]
    assert short_keys(["a.seed", "b.seed", "c.x"]) == {"a.seed": "a.seed", "b.seed": "b.seed", "c.x": "x"}


def test_a_sweep_is_grouped_over_seeds_and_group_by_regroups(tmp_path):
    sweep = make_sweep(tmp_path)
    lines = make_lines(load_runs([sweep]))
    assert [ln.label for ln in lines] == ["availability=1 (n=3)", "availability=0.25 (n=3)"]
    assert [sorted(r.params["sim.seed"] for r in ln.runs) for ln in lines] == [[0, 1, 2], [0, 1, 2]]
    by_seed = make_lines(load_runs([sweep]), group_by=["sim.seed"])
    assert [ln.label for ln in by_seed] == ["seed=0 (n=2)", "seed=1 (n=2)", "seed=2 (n=2)"]
    other = write_run(tmp_path / "single", avail=0.5)
    mixed = make_lines(load_runs([sweep, other]))
    assert [ln.label for ln in mixed] == ["single", "sweep: availability=1 (n=3)", "sweep: availability=0.25 (n=3)"]


def test_group_by_plain_runs_reads_their_specs(tmp_path):
    runs = [write_run(tmp_path / f"r{s}{a}", avail=a, seed=s) for a in (1.0, 0.5) for s in (0, 1)]
    lines = make_lines(load_runs(runs), group_by=["churn.availability"])
    assert [(ln.label, len(ln.runs)) for ln in lines] == [("availability=1 (n=2)", 2), ("availability=0.5 (n=2)", 2)]
    assert is_png(plot_runs(runs, tmp_path / "g.png", group_by=["churn.availability"], labels=["all online", "half"]))


@given(st.lists(st.lists(st.floats(-1e6, 1e6) | st.none(), min_size=6, max_size=6), min_size=1, max_size=5))
def test_aggregate_on_a_shared_time_grid_is_nanmean_and_sample_std(rows):
    t = np.arange(6, dtype=float) * 10
    curves = [(t, np.array([np.nan if x is None else x for x in row])) for row in rows]
    grid, mean, std = aggregate(curves)
    stack = np.array([c[1] for c in curves])
    assert np.array_equal(grid, t)
    for j in range(6):
        col = stack[:, j][np.isfinite(stack[:, j])]
        if len(col) == 0:
            assert np.isnan(mean[j])
        else:
            assert mean[j] == pytest.approx(col.mean(), rel=1e-9, abs=1e-6)
            assert std[j] == pytest.approx(col.std(ddof=1) if len(col) > 1 else 0.0, rel=1e-9, abs=1e-6)


def test_aggregate_interpolates_onto_the_union_of_times_within_each_run():
    a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 1.0, 2.0]))
    b = (np.array([5.0, 15.0]), np.array([10.0, 20.0]))
    grid, mean, std = aggregate([a, b])
    assert list(grid) == [0, 5, 10, 15, 20]
    assert list(mean) == [0.0, (0.5 + 10) / 2, (1 + 15) / 2, (1.5 + 20) / 2, 2.0]  # b counts only in [5, 15]
    assert std[0] == 0 and std[2] == pytest.approx(np.std([1, 15], ddof=1))


@pytest.mark.parametrize(
    ("t_max", "unit"),
    [(0, "s"), (300, "s"), (301, "min"), (3 * 3600, "min"), (3 * 3600 + 1, "h"), (3 * 86400, "h"), (10 * 86400, "days")],
)
def test_time_unit_keeps_the_axis_readable(t_max, unit):
    div, name = time_unit(t_max)
    assert name == unit and 1 <= max(t_max, div) / div <= 300


# ------------------------------------------------------------------------------------------
# command line


def _app() -> typer.Typer:
    return cli_app('plot', plot_cli.plot)


def test_cli_plot_writes_the_figure_and_reports_bad_input_as_p2pfed_errors(tmp_path):
    a, b = write_run(tmp_path / "a"), write_run(tmp_path / "b", avail=1.0)
    r = CliRunner().invoke(_app(), ["plot", str(a), str(b), "-o", str(tmp_path / "f.png"), "--metrics", "acc_mean, online",
                                    "--labels", "half,full", "--title", "t"])
    assert r.exit_code == 0, r.output
    assert is_png(tmp_path / "f.png") and "figure written to" in r.output
    r = CliRunner().invoke(_app(), ["plot", str(a), "-o", str(tmp_path / "g.png"), "--metrics", "nope"])
    assert isinstance(r.exception, P2PFedError) and "unknown metric(s) nope" in str(r.exception)
