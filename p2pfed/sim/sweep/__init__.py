"""Parameter sweeps: expand a grid of spec overrides, run the points in parallel, resumably, and tabulate.

A sweep file is TOML::

    spec = "churn-study.toml"        # base simulation spec, relative to the sweep file (required)
    out = "runs/churn-sweep"         # output folder, relative to the current directory
                                     # (default: runs/<sweep file stem>; `--out` overrides it)
    seed_key = "sim.seed"            # grid key averaged over in summary.md (default "sim.seed")

    [grid]                           # every combination of these overrides is one run (required)
    "churn.availability" = [1.0, 0.5, 0.25, 0.1]
    "sim.algorithm" = ["gossip", "dpsgd"]
    "sim.seed" = [0, 1, 2]

Grid keys are dotted spec keys exactly as `--set` takes them (quoted, or written as nested tables
such as `[grid.churn]`); each value is a non-empty array of distinct TOML values (numbers, strings,
booleans, arrays...). Points are the cartesian product in file order (the last key varies
fastest). Each point runs in `OUT/<name>/`, where the name lists its overrides, e.g.
`churn.availability=0.5,sim.algorithm=gossip,sim.seed=1` (characters unsafe in file names become
`_`). Extra `--set` overrides apply to every point and may not repeat a grid key.

Resumable: a point whose `summary.json` exists is complete and skipped; any other point folder is
deleted and rerun from scratch. `OUT/sweep.json` records the sweep (spec, extra overrides, grid,
points; `p2pfed plot OUT` reads it); rerunning into the same OUT with a different base spec or
different `--set` overrides is refused. A failing point does not stop the others: its traceback
goes to `OUT/errors.log`. At the end (also after Ctrl-C) `OUT/summary.csv` has one row per point
(grid values, seed, final metrics, wall seconds, status: ok, failed or "not run") and
`OUT/summary.md` groups the points over the seed key with mean ± sample standard deviation (n - 1)
per metric.

Modules: `grid` (the sweep file, its points and their names), `executor` (running the points,
sweep.json, errors.log) and `results` (summary.csv, summary.md); everything public is importable
from here.
"""

from p2pfed.sim.sweep.executor import (
    MANIFEST,
    SUMMARY_JSON,
    WORKER_LOG,
    CheckPoint,
    RunPoint,
    check_point,
    read_summary,
    run_point,
    run_sweep,
)
from p2pfed.sim.sweep.grid import Point, SweepSpec, expand_grid, load_sweep, point_name, toml_value
from p2pfed.sim.sweep.results import (
    ERRORS_LOG,
    SUMMARY_METRICS,
    GroupStats,
    PointResult,
    SweepResult,
    format_stat,
    group_stats,
    point_metrics,
    summary_csv,
    summary_markdown,
    write_atomic,
    write_summaries,
)

__all__ = [
    "ERRORS_LOG",
    "MANIFEST",
    "SUMMARY_JSON",
    "SUMMARY_METRICS",
    "WORKER_LOG",
    "CheckPoint",
    "GroupStats",
    "Point",
    "PointResult",
    "RunPoint",
    "SweepResult",
    "SweepSpec",
    "check_point",
    "expand_grid",
    "format_stat",
    "group_stats",
    "load_sweep",
    "point_metrics",
    "point_name",
    "read_summary",
    "run_point",
    "run_sweep",
    "summary_csv",
    "summary_markdown",
    "toml_value",
    "write_atomic",
    "write_summaries",
]
