"""`p2pfed sweep`: run every point of a grid of simulation overrides in parallel, resumably, and tabulate."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from p2pfed.log import setup_logging
from p2pfed.sim.sweep import ERRORS_LOG, PointResult, load_sweep, run_sweep

console = Console(stderr=True)
_LIST_MAX = 20  # failed points listed at the end


def sweep(
    sweep_file: Path = typer.Argument(..., metavar="SWEEP.toml", help="Sweep file: base spec, output folder and \\[grid].", show_default=False),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Points run at once, each in its own process (0 = one per CPU core; 1 = in this process)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default: `out` in the sweep file, else runs/<sweep file name>)."),
    set_: list[str] = typer.Option([], "--set", help="Override a spec value in every point, e.g. --set sim.duration=600 (repeatable)."),
) -> None:
    """Run a parameter sweep of simulations: every combination of the \\[grid] values is one run.

    \b
    SWEEP.toml:
      spec = "churn-study.toml"      # base simulation spec, relative to this file
      out = "runs/churn-sweep"       # output folder, relative to the current directory
      seed_key = "sim.seed"          # averaged over in summary.md (default)
      \\[grid]                         # dotted spec keys = arrays of values
      "churn.availability" = [1.0, 0.5, 0.25, 0.1]
      "sim.algorithm" = ["gossip", "dpsgd"]
      "sim.seed" = [0, 1, 2]

    Each point runs in OUT/<key=value,...>/. Rerunning skips the points that finished (they have
    a summary.json) and redoes the rest from scratch. A failing point does not stop the others;
    its traceback goes to OUT/errors.log and the exit code is 1. At the end OUT/summary.csv has
    one row per point and OUT/summary.md the mean ± std over seeds of each group of points;
    `p2pfed plot OUT -o fig.png` draws them.
    """
    setup_logging("sweep", "WARNING")
    spec = load_sweep(sweep_file, set_, out)
    progress = Progress(
        TextColumn("[bold]sweep[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    task = progress.add_task("sweep", total=None)

    def on_start(total: int, to_run: int) -> None:  # the points passed their checks: show the bar
        done = total - to_run
        skipped = f"; {done} already complete, skipped" if done else ""
        console.print(f"[bold]p2pfed sweep[/]: {total} points in {spec.out}{skipped}")
        progress.update(task, total=total, completed=done)
        progress.start()

    def on_result(res: PointResult) -> None:
        if res.status == "skipped":
            return
        if res.status == "failed":
            progress.console.print(f"[red]failed[/] {res.point.name}: {res.error}")
        progress.advance(task)

    try:
        result = run_sweep(spec, jobs=jobs, on_start=on_start, on_result=on_result)
    finally:
        progress.stop()
    console.print(
        f"{result.count('done')} run, {result.count('skipped')} skipped, {len(result.failed)} failed; "
        f"summaries: {result.csv_path} and {result.md_path}"
    )
    if result.failed:
        console.print(f"[red]failed points[/] (tracebacks in {spec.out / ERRORS_LOG}; rerun the sweep to retry them):")
        for r in result.failed[:_LIST_MAX]:
            console.print(f"  {r.point.name}: {r.error}")
        if len(result.failed) > _LIST_MAX:
            console.print(f"  ... and {len(result.failed) - _LIST_MAX} more (see {ERRORS_LOG} or summary.md)")
        raise typer.Exit(1)
