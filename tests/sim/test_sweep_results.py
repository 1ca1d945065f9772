"""A sweep's results (`p2pfed.sim.sweep.results`): summary.csv, summary.md's mean ± std over seeds, units, atomic writes."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest

from p2pfed.sim.sweep import format_stat, group_stats, load_sweep, run_sweep, write_atomic
from tests.sim.test_sweep_executor import fake_run
from tests.sim.test_sweep_grid import GRID, write_sweep


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


def test_format_stat_units():
    assert format_stat("acc_mean", 0.8766, 0.0123) == "87.7 ± 1.2 %"
    assert format_stat("acc_mean", 0.8766, None) == "87.7 %"
    assert format_stat("consensus", 0.2, 3.4e-17) == "0.2 ± 0"
    assert format_stat("bytes_per_node", 2.5e6, 1e5) == "2.5 ± 0.1 MB"
    assert format_stat("consensus", 0.012345, 0.001) == "0.0123 ± 0.001"
    assert format_stat("wall_seconds", None, None) == "n/a"


def test_write_atomic_replaces_whole_files(tmp_path):
    p = tmp_path / "f.txt"
    write_atomic(p, "one")
    write_atomic(p, "two")
    assert p.read_text() == "two" and os.listdir(tmp_path) == ["f.txt"]
