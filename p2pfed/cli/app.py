"""The `p2pfed` typer application: registers the commands and turns user errors into messages."""

from __future__ import annotations

import sys

import typer

from p2pfed import __version__
from p2pfed.cli import data, keygen, launch, node, plot, report, simulate, sweep
from p2pfed.errors import P2PFedError

app = typer.Typer(
    name="p2pfed",
    help="Decentralized, peer-to-peer federated learning: encrypted, signed gossip over ZeroMQ, no server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("keygen")(keygen.keygen)
app.add_typer(node.app, name="node")
app.command("launch")(launch.launch)
app.command("simulate")(simulate.simulate)
app.command("sweep")(sweep.sweep)
app.command("plot")(plot.plot)
app.command("report")(report.report)
app.add_typer(data.app, name="data")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"p2pfed {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Decentralized, peer-to-peer federated learning: encrypted, signed gossip over ZeroMQ, no server."""


def main() -> None:
    try:
        app()
    except P2PFedError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
