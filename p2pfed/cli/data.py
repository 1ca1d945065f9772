"""`p2pfed data`: describe a dataset (an .npz or the UCI HAR download) and convert UCI HAR to .npz."""

from __future__ import annotations

from pathlib import Path

import typer

from p2pfed.data.summary import summarize
from p2pfed.data.uci_har import SPLITS, convert

app = typer.Typer(help="Inspect and convert datasets.", no_args_is_help=True)


def _ids(ids: tuple[int, ...]) -> str:
    return ", ".join(map(str, ids)) if len(ids) <= 40 else f"{', '.join(map(str, ids[:40]))}, ..."


@app.command("info")
def info(
    path: Path = typer.Argument(
        ..., help=".npz with X, y, subject, or the UCI HAR download (its zip or extracted folder)."
    ),
    x_key: str = typer.Option("X", "--x-key", help="Input array of an .npz (e.g. X_raw)."),
) -> None:
    """Shape, subjects, classes and label counts of a dataset (validated; inputs are not loaded)."""
    s = summarize(path, x_key)
    kind = "UCI HAR download (official layout)" if s.kind == "uci-har" else ".npz"
    typer.echo(f"{s.path}: {kind}")
    for key, shape in s.inputs.items():
        typer.echo(f"  input {key}: {' x '.join(map(str, shape))} per row")
    classes = ", ".join(f"{i} {n}" for i, n in enumerate(s.label_names))
    typer.echo(f"  classes ({len(s.label_names)}): {classes}")
    width = max(len(n) for n in s.label_names)
    for part in s.parts:
        typer.echo(f"  {part.name}: {part.rows} rows, {len(part.subjects)} subjects ({_ids(part.subjects)})")
        for name, count in zip(s.label_names, part.label_counts):
            share = count / part.rows if part.rows else 0.0
            typer.echo(f"    {name:<{width}}  {count:>7}  {share:6.1%}")


@app.command("convert-uci-har")
def convert_uci_har(
    path: Path = typer.Argument(
        ...,
        help="The UCI HAR download: 'UCI HAR Dataset.zip' (also nested in the UCI repository's zip) "
        "or its extracted folder.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npz (X, X_raw, y, subject, is_test, names)."),
    split: str = typer.Option(
        "all", "--split", help=f"Which volunteers: {', '.join(SPLITS)} (train/test: the official split)."
    ),
) -> None:
    """Convert the official UCI HAR files to an .npz for data.source = "npz" (one node per subject)."""
    typer.echo(f"reading {path} (the 561-feature and raw inertial files; a few seconds)...", err=True)
    written = convert(path, out, split)
    s = summarize(written)
    part = s.parts[0]
    who = f"{len(part.subjects)} subjects ({_ids(part.subjects)})"
    typer.echo(f"wrote {written}: {part.rows} windows of {who}")
    typer.echo(f'use it with: [data] source = "npz", path = "{written}"')
    typer.echo('(x_key = "X" for the 561 features, "X_raw" for the 9 x 128 raw windows)')
