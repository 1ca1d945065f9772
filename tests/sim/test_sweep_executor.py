"""Running a sweep (`p2pfed.sim.sweep.executor`): resumability, failures, Ctrl-C, the point check, worker processes."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from p2pfed.config import parse_override
from p2pfed.errors import ConfigError
from p2pfed.sim.sweep import ERRORS_LOG, MANIFEST, load_sweep, read_summary, run_sweep
from tests.sim.test_sweep_grid import write_sweep

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


class Calls:
    """Counts the points a runner was asked to run (in-process runs, jobs=1)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, spec_path: Path, overrides: Sequence[str], point_dir: Path) -> dict[str, Any]:
        self.names.append(point_dir.name)
        return fake_run(spec_path, overrides, point_dir)


# ------------------------------------------------------------------------------------------
# resumability, failures, Ctrl-C, the point check, worker processes


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
