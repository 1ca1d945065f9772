"""`p2pfed plot`: draw simulation runs (or sweeps) against virtual time into an image file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from p2pfed.log import setup_logging
from p2pfed.evaluation.plots import DEFAULT_METRICS, PANELS, plot_runs

console = Console(stderr=True)


def _split(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def plot(
    runs: list[Path] = typer.Argument(..., help="Run folders (with metrics.jsonl) and/or sweep folders (with sweep.json).", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Figure file: .png, .pdf or .svg."),
    metrics: str = typer.Option(",".join(DEFAULT_METRICS), "--metrics", "-m", help=f"Comma-separated panels, from: {', '.join(PANELS)}."),
    labels: str = typer.Option("", "--labels", help="Comma-separated legend labels, one per line (default: folder names or the differing spec keys)."),
    title: str = typer.Option("", "--title", help="Figure title."),
    group_by: str | None = typer.Option(
        None,
        "--group-by",
        help="Comma-separated spec keys: runs with equal values form one line (mean, ± std band). "
        "Sweeps are grouped by their grid keys except the seed key unless this is given.",
    ),
) -> None:
    """Plot metrics of simulation runs against virtual time: one panel per metric, runs overlaid.

    Accuracy shows the mean over nodes (solid) and the worst 10 % of nodes (dashed, same colour);
    the consensus distance uses a log scale. A sweep folder contributes one line per group of
    points, averaged over seeds with a ± one standard deviation band.
    """
    setup_logging("plot", "WARNING")
    path = plot_runs(
        runs,
        out,
        metrics=_split(metrics),
        labels=_split(labels) if labels else None,
        title=title,
        group_by=_split(group_by) if group_by is not None else None,
    )
    console.print(f"figure written to {path}")
