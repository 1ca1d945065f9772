"""`p2pfed report RUN`: evaluate a run (if needed) and write its one-page Markdown report and figures."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from p2pfed.evaluation.report import write_report
from p2pfed.evaluation.scoring import read_evaluation
from p2pfed.evaluation.summary import pct
from p2pfed.log import setup_logging

console = Console(stderr=True)


def report(
    run: Path = typer.Argument(..., help="Run folder (from `p2pfed launch`, or any folder with an evaluation.json)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Markdown file to write (default: RUN/report.md)."),
    recompute: bool = typer.Option(
        False, "--recompute", help="Re-evaluate a launch run from its saved models even if RUN/evaluation.json exists."
    ),
) -> None:
    """Write RUN/report.md (accuracy, worst-10 % nodes, groups, classes, confusion matrix) from a run."""
    setup_logging("report", "WARNING")
    with console.status("reading the run...") as status:
        files = write_report(run, out, recompute=recompute, progress=lambda m: status.update(m))
    if files.computed:
        console.print(f"evaluated the run's saved models: {files.evaluation}")
    ev = read_evaluation(run)
    held, local = ev.get("heldout"), ev["local"]["distribution"]
    line = f"own data: mean {pct(local['mean'])}, worst 10 % {pct(local['worst10'])}"
    if held:
        d = held["distribution"]
        line = f"held-out people: mean {pct(d['mean'])}, worst 10 % {pct(d['worst10'])}; " + line
    console.print(line)
    console.print(f"report: {files.markdown}")
    figures = f"confusion matrix: {files.confusion}"
    console.print(figures + (f", accuracy over time: {files.accuracy}" if files.accuracy else ""))
