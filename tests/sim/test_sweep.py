"""Parameter sweeps: sweep file validation, grid expansion and names, resumability, failures, summaries."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from p2pfed.cli import sweep as sweep_cli
from p2pfed.config import parse_override
from p2pfed.errors import ConfigError, P2PFedError
from p2pfed.sim.sweep import (
    ERRORS_LOG,
    MANIFEST,
    expand_grid,
    format_stat,
    group_stats,
    load_sweep,
    point_name,
    read_summary,
    run_sweep,
    toml_value,
    write_atomic,
)

# ------------------------------------------------------------------------------------------
# a small real runner standing in for the simulator


def fake_run(spec_path: Path, overrides: Sequence[str], point_dir: Path) -> dict[str, Any]:
    """Writes what the simulator writes (spec.toml, metrics.jsonl, summary.json last), from the overrides.

    acc_mean = 0.5 * availability + 0.1 * seed; availability 0.1 fails; `sim.crash = true` kills
    the worker process outright.
    """
    values = {".".join(k): v for k, v in map(parse_override, overrides)}
    if values.get("sim.crash"):
        os._exit(3)
    avail = float(values.get("churn.availability", 1.0))
    if avail == 0.1:
        raise RuntimeError(f"simulated failure at availability {avail}")
    seed = int(values.get("sim.seed", 0))
    (point_dir / "spec.toml").write_text(spec_path.read_text() + "".join(f"# {o}\n" for o in overrides))
    records = [
        {"t": 10.0 * i, "acc_mean": 0.5 * avail + 0.1 * seed, "acc_p10": 0.25 * avail, "consensus": 1.0 / (i + 1),
         "online": avail, "bytes_per_node": 1000.0 * i, "local_acc": {"n0": 0.5}}
        for i in range(5)
    ]
    (point_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    final = {k: v for k, v in records[-1].items() if k != "local_acc"}
    final["local_acc_mean"] = None  # not measurable: must come out as an empty cell / "n/a"
    summary = {"name": point_dir.name, "algorithm": values.get("sim.algorithm", "gossip"), "nodes": 4, "seed": seed,
               "final": final, "wall_seconds": 2.0 + seed, "events": 100}
    (point_dir / "summary.json").write_text(json.dumps(summary))
    return summary


def returns_only(spec_path: Path, overrides: Sequence[str], point_dir: Path) -> dict[str, Any]:
    """A runner that writes no summary.json: the sweep must write the returned summary itself."""
    return {"seed": 0, "final": {"acc_mean": 0.75}, "wall_seconds": 1.0}


def write_sweep(tmp: Path, grid: str, extra: str = "") -> Path:
    (tmp / "base.toml").write_text('[sim]\nname = "base"\n')
    path = tmp / "study.toml"
    path.write_text(f'spec = "base.toml"\nout = "{tmp / "out"}"\n{extra}\n[grid]\n{grid}\n')
    return path


GRID = '"churn.availability" = [1.0, 0.5]\n"sim.algorithm" = ["gossip", "dpsgd"]\n"sim.seed" = [0, 1, 2]\n'


class Calls:
    """Counts the points a runner was asked to run (in-process runs, jobs=1)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, spec_path: Path, overrides: Sequence[str], point_dir: Path) -> dict[str, Any]:
        self.names.append(point_dir.name)
        return fake_run(spec_path, overrides, point_dir)


# ------------------------------------------------------------------------------------------
# sweep file


def test_load_sweep_reads_the_example_format(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, GRID), ["sim.duration=60"])
    assert sw.spec == (tmp_path / "base.toml").resolve()
    assert sw.out == tmp_path / "out"
    assert sw.keys == ("churn.availability", "sim.algorithm", "sim.seed")
    assert sw.grid[0] == ("churn.availability", (1.0, 0.5))
    assert sw.group_keys == ("churn.availability", "sim.algorithm")
    assert sw.overrides == ("sim.duration=60",)
    assert load_sweep(write_sweep(tmp_path, GRID), out=tmp_path / "elsewhere").out == tmp_path / "elsewhere"


def test_nested_grid_tables_mean_dotted_keys(tmp_path):
    (tmp_path / "base.toml").write_text("")
    (tmp_path / "n.toml").write_text('spec = "base.toml"\n[grid.churn]\navailability = [1.0, 0.5]\n')
    assert load_sweep(tmp_path / "n.toml").grid == (("churn.availability", (1.0, 0.5)),)
    assert load_sweep(tmp_path / "n.toml").out == Path("runs/n")  # default out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('spec = "base.toml"\nouts = "x"\n[grid]\n"sim.seed" = [0]\n', "unknown key(s) outs"),
        ('[grid]\n"sim.seed" = [0]\n', "missing or empty `spec`"),
        ('spec = "nope.toml"\n[grid]\n"sim.seed" = [0]\n', "spec 'nope.toml' not found"),
        ('spec = "base.toml"\n', "missing [grid]"),
        ('spec = "base.toml"\ngrid = 3\n', "`grid` must be a table"),
        ('spec = "base.toml"\n[grid]\n', "[grid] is empty"),
        ('spec = "base.toml"\n[grid]\n"sim.seed" = []\n', "grid.sim.seed is an empty array"),
        ('spec = "base.toml"\n[grid]\n"sim.seed" = 3\n', "grid.sim.seed must be an array of values, e.g. [3]"),
        ('spec = "base.toml"\n[grid]\n"sim.seed" = [1, 2, 1]\n', "grid.sim.seed lists 1 twice"),
        ('spec = "base.toml"\n[grid]\n"sim..seed" = [1]\n', "not a dotted key"),
        ('spec = "base.toml"\nout = 5\n[grid]\n"sim.seed" = [1]\n', "`out` must be a non-empty string"),
        ('spec = "base.toml"\nseed_key = 1\n[grid]\n"sim.seed" = [1]\n', "`seed_key` must be a dotted key"),
        ('spec = "base.toml"\n[grid\n', "not valid TOML"),
    ],
)
def test_bad_sweep_files_are_config_errors_naming_the_file(tmp_path, body, message):
    (tmp_path / "base.toml").write_text("")
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_sweep(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_missing_sweep_file_and_set_of_a_grid_key_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="sweep file not found"):
        load_sweep(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="sim.seed is swept by the grid"):
        load_sweep(write_sweep(tmp_path, GRID), ["sim.seed=4"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_sweep(write_sweep(tmp_path, GRID), ["sim.seed"])


# ------------------------------------------------------------------------------------------
# grid expansion and names


def test_points_are_the_cartesian_product_in_file_order_with_readable_names(tmp_path):
    points = expand_grid(load_sweep(write_sweep(tmp_path, GRID)).grid)
    assert len(points) == 12
    assert points[0].name == "churn.availability=1.0,sim.algorithm=gossip,sim.seed=0"
    assert points[1].name == "churn.availability=1.0,sim.algorithm=gossip,sim.seed=1"  # last key fastest
    assert points[-1].name == "churn.availability=0.5,sim.algorithm=dpsgd,sim.seed=2"
    assert points[4].overrides == ("churn.availability=1.0", 'sim.algorithm="dpsgd"', "sim.seed=1")
    assert point_name([("model.hidden", [128, 64]), ("data.path", "a b/c")]) == "model.hidden=128x64,data.path=a_b_c"


toml_values = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


grid_keys = st.from_regex(r"[a-z_]{1,4}(\.[a-z_\-]{1,4}){0,2}", fullmatch=True)


@given(
    st.lists(
        st.tuples(grid_keys, st.lists(toml_values, min_size=1, max_size=4)), min_size=1, max_size=3, unique_by=lambda kv: kv[0]
    )
)
def test_grid_count_is_the_product_and_names_are_unique_and_safe(grid):
    # the sweep file refuses a value listed twice
    grid = [(k, [v for i, v in enumerate(vals) if toml_value(v) not in {toml_value(w) for w in vals[:i]}]) for k, vals in grid]
    points = expand_grid(grid)
    assert len(points) == math.prod(len(vals) for _, vals in grid)
    names = [p.name for p in points]
    assert len(set(names)) == len(names)
    for p in points:
        assert 0 < len(p.name) <= 180 and "/" not in p.name and p.name not in (".", "..")
        for (key, value), item in zip(p.values, p.overrides):
            keys, parsed = parse_override(item)  # what load_spec will see
            assert ".".join(keys) == key and parsed == value


def test_names_that_sanitise_alike_stay_distinct():
    points = expand_grid([("data.path", ["a b", "a_b", "a/b"])])
    assert len({p.name for p in points}) == 3
    assert points[0].name.startswith("data.path=a_b~")


@given(st.floats(allow_nan=False) | st.integers(-(2**63), 2**63 - 1) | st.text() | st.booleans())
def test_toml_value_round_trips_through_parse_override(v):
    assert parse_override(f"k={toml_value(v)}")[1] == v


# ------------------------------------------------------------------------------------------
# running: resumability, failures, summaries


def test_second_run_skips_complete_points_and_reruns_a_deleted_or_half_written_one(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, '"churn.availability" = [1.0, 0.5]\n"sim.seed" = [0, 1]\n'))
    calls = Calls()
    first = run_sweep(sw, jobs=1, run_point=calls, check_point=None)
    assert [r.status for r in first.results] == ["done"] * 4 and len(calls.names) == 4
    manifest = json.loads((sw.out / MANIFEST).read_text())
    assert manifest["points"][0]["overrides"] == ["churn.availability=1.0", "sim.seed=0"]

    again = Calls()
    second = run_sweep(sw, jobs=1, run_point=again, check_point=None)
    assert again.names == [] and [r.status for r in second.results] == ["skipped"] * 4

    victim = sw.out / "churn.availability=0.5,sim.seed=1"
    (victim / "summary.json").unlink()  # as if killed before the summary was written
    (victim / "leftover.tmp").write_text("half")
    (sw.out / "churn.availability=1.0,sim.seed=0" / "summary.json").write_text('{"torn')  # unreadable: not complete
    third = run_sweep(sw, jobs=1, run_point=again, check_point=None)
    assert sorted(again.names) == ["churn.availability=0.5,sim.seed=1", "churn.availability=1.0,sim.seed=0"]
    assert not (victim / "leftover.tmp").exists()  # rerun from scratch
    assert [r.status for r in third.results] == ["done", "skipped", "skipped", "done"]


def test_a_failing_point_does_not_stop_the_sweep(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, '"churn.availability" = [0.5, 0.1]\n"sim.seed" = [0, 1]\n'))
    seen = []
    res = run_sweep(sw, jobs=1, run_point=fake_run, check_point=None, on_result=seen.append)
    assert [r.point.name for r in res.failed] == [f"churn.availability=0.1,sim.seed={s}" for s in (0, 1)]
    assert res.count("done") == 2 and len(seen) == 4
    assert res.failed[0].error == "RuntimeError: simulated failure at availability 0.1"
    log = (sw.out / ERRORS_LOG).read_text()
    assert "churn.availability=0.1,sim.seed=1" in log and "Traceback" in log and "fake_run" in log
    rows = list(csv.DictReader(io.StringIO((sw.out / "summary.csv").read_text())))
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"] and rows[2]["acc_mean"] == ""
    md = (sw.out / "summary.md").read_text()
    assert "| 0.1 | 0/2 |" in md and "simulated failure" in md and "2 failed" in md

    calls = Calls()
    retry = run_sweep(sw, jobs=1, run_point=calls, check_point=None)
    assert sorted(calls.names) == [r.point.name for r in res.failed] and len(retry.failed) == 2
    assert not [n for n in calls.names if "0.5" in n]


def test_summary_csv_and_md_hold_the_final_metrics_and_mean_std_over_seeds(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, GRID))
    res = run_sweep(sw, jobs=1, run_point=fake_run, check_point=None)
    rows = list(csv.DictReader(io.StringIO(res.csv_path.read_text())))
    assert list(rows[0]) == ["point", "churn.availability", "sim.algorithm", "sim.seed", "seed", "acc_mean", "acc_p10",
                             "local_acc_mean", "consensus", "online", "bytes_per_node", "wall_seconds", "status"]
    assert len(rows) == 12
    r = rows[5]  # availability 1.0, dpsgd, seed 2
    assert (r["churn.availability"], r["sim.algorithm"], r["seed"]) == ("1.0", "dpsgd", "2")
    assert float(r["acc_mean"]) == pytest.approx(0.7) and float(r["consensus"]) == pytest.approx(0.2)
    assert float(r["bytes_per_node"]) == 4000 and float(r["wall_seconds"]) == 4 and r["local_acc_mean"] == ""

    groups = group_stats(sw, res.results)
    assert [dict(g.values) for g in groups][:2] == [
        {"churn.availability": 1.0, "sim.algorithm": "gossip"},
        {"churn.availability": 1.0, "sim.algorithm": "dpsgd"},
    ]
    g = groups[2]  # availability 0.5: acc_mean = 0.25 + 0.1 * seed for seeds 0, 1, 2
    assert g.runs == g.total == 3
    assert g.mean["acc_mean"] == pytest.approx(np.mean([0.25, 0.35, 0.45]))
    assert g.std["acc_mean"] == pytest.approx(np.std([0.25, 0.35, 0.45], ddof=1))
    assert g.std["online"] == 0 and g.mean["local_acc_mean"] is None and g.n["local_acc_mean"] == 0
    assert g.mean["wall_seconds"] == pytest.approx(3.0) and g.std["wall_seconds"] == pytest.approx(1.0)

    md = res.md_path.read_text()
    assert "| churn.availability | sim.algorithm | runs | accuracy (mean) |" in md
    row = "| 0.5 | gossip | 3/3 | 35.0 ± 10.0 % | 12.5 ± 0.0 % | n/a | 0.2 ± 0 | 50.0 ± 0.0 % | 4 ± 0 kB | 3.0 ± 1.0 s |"
    assert row in md
    assert md.count("\n| ") == 1 + 4  # header + one row per (availability, algorithm)


def test_ctrl_c_stops_the_sweep_and_the_summaries_list_the_points_not_run(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, '"sim.seed" = [0, 1, 2]\n'))

    def interrupted_at_seed_1(spec_path: Path, overrides: Sequence[str], point_dir: Path) -> dict[str, Any]:
        if "sim.seed=1" in overrides:
            raise KeyboardInterrupt
        return fake_run(spec_path, overrides, point_dir)

    with pytest.raises(KeyboardInterrupt):
        run_sweep(sw, jobs=1, run_point=interrupted_at_seed_1, check_point=None)
    rows = list(csv.DictReader(io.StringIO((sw.out / "summary.csv").read_text())))
    assert [r["status"] for r in rows] == ["ok", "not run", "not run"]
    assert "3 points, 1 complete, 0 failed, 2 not run (interrupted)" in (sw.out / "summary.md").read_text()
    calls = Calls()
    run_sweep(sw, jobs=1, run_point=calls, check_point=None)
    assert calls.names == ["sim.seed=1", "sim.seed=2"]


def test_format_stat_units():
    assert format_stat("acc_mean", 0.8766, 0.0123) == "87.7 ± 1.2 %"
    assert format_stat("acc_mean", 0.8766, None) == "87.7 %"
    assert format_stat("consensus", 0.2, 3.4e-17) == "0.2 ± 0"
    assert format_stat("bytes_per_node", 2.5e6, 1e5) == "2.5 ± 0.1 MB"
    assert format_stat("consensus", 0.012345, 0.001) == "0.0123 ± 0.001"
    assert format_stat("wall_seconds", None, None) == "n/a"


def test_a_runner_that_only_returns_its_summary_gets_it_written(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, '"sim.seed" = [0]\n'))
    res = run_sweep(sw, jobs=1, run_point=returns_only, check_point=None)
    assert read_summary(sw.out / "sim.seed=0") == {"seed": 0, "final": {"acc_mean": 0.75}, "wall_seconds": 1.0}
    assert res.results[0].status == "done"

    def nothing(spec_path: Path, overrides: Sequence[str], point_dir: Path) -> None:
        return None

    sw2 = load_sweep(write_sweep(tmp_path, '"sim.seed" = [1]\n'), out=tmp_path / "o2")
    assert "wrote no summary.json" in run_sweep(sw2, jobs=1, run_point=nothing, check_point=None).failed[0].error


def test_a_point_refused_by_the_check_stops_the_sweep_before_anything_runs(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, '"sim.algorithm" = ["gossip", "nope"]\n'))

    def check(spec_path: Path, overrides: Sequence[str]) -> None:
        if 'sim.algorithm="nope"' in overrides:
            raise ConfigError("sim.algorithm: unknown algorithm 'nope'")

    calls = Calls()
    with pytest.raises(ConfigError, match="sweep point sim.algorithm=nope: sim.algorithm: unknown algorithm"):
        run_sweep(sw, jobs=1, run_point=calls, check_point=check)
    assert calls.names == [] and not list(sw.out.glob("sim.algorithm=*"))
    with pytest.raises(ConfigError, match="--jobs -1"):
        run_sweep(sw, jobs=-1, run_point=calls, check_point=None)


def test_extra_overrides_reach_every_point_and_cannot_change_on_resume(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, '"sim.seed" = [0, 1]\n'), ["sim.duration=60"])
    seen: list[tuple[str, ...]] = []

    def record(spec_path: Path, overrides: Sequence[str], point_dir: Path) -> dict[str, Any]:
        seen.append(tuple(overrides))
        return fake_run(spec_path, overrides, point_dir)

    run_sweep(sw, jobs=1, run_point=record, check_point=None)
    assert seen == [("sim.duration=60", "sim.seed=0"), ("sim.duration=60", "sim.seed=1")]
    with pytest.raises(ConfigError, match="Use another --out"):
        run_sweep(load_sweep(sw.path, ["sim.duration=120"]), jobs=1, run_point=record, check_point=None)


def test_parallel_points_run_in_worker_processes_and_a_dead_worker_fails_only_its_points(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, '"churn.availability" = [1.0, 0.5, 0.1]\n"sim.seed" = [0, 1]\n'))
    res = run_sweep(sw, jobs=2, run_point=fake_run, check_point=None)
    assert [r.status for r in res.results] == ["done"] * 4 + ["failed"] * 2
    assert read_summary(sw.out / "churn.availability=0.5,sim.seed=1")["final"]["acc_mean"] == pytest.approx(0.35)
    assert "RuntimeError: simulated failure" in res.failed[0].error

    crash = load_sweep(write_sweep(tmp_path, '"sim.crash" = [true, false]\n'), out=tmp_path / "crash")
    res = run_sweep(crash, jobs=2, run_point=fake_run, check_point=None)
    assert res.results[0].status == "failed" and "worker process died" in res.results[0].error
    assert res.results[1].status in ("done", "failed")  # it may have been queued in the broken pool
    assert "sim.crash=true" in (crash.out / ERRORS_LOG).read_text()


def test_write_atomic_replaces_whole_files(tmp_path):
    p = tmp_path / "f.txt"
    write_atomic(p, "one")
    write_atomic(p, "two")
    assert p.read_text() == "two" and os.listdir(tmp_path) == ["f.txt"]


# ------------------------------------------------------------------------------------------
# command line


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("sweep")(sweep_cli.sweep)

    @app.callback()
    def _root() -> None:
        """p2pfed."""

    return app


def test_cli_sweep_refuses_a_bad_sweep_file_with_a_p2pfed_error(tmp_path):
    (tmp_path / "bad.toml").write_text('spec = "missing.toml"\n[grid]\n"sim.seed" = [0]\n')
    r = CliRunner().invoke(_app(), ["sweep", str(tmp_path / "bad.toml")])
    assert isinstance(r.exception, P2PFedError) and "spec 'missing.toml' not found" in str(r.exception)
    r = CliRunner().invoke(_app(), ["sweep", "--help"])
    assert r.exit_code == 0 and '"churn.availability" = [1.0, 0.5, 0.25, 0.1]' in r.output
