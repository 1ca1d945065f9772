"""`p2pfed node run`: run one node process from its TOML config until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from p2pfed.config import load_node_config
from p2pfed.log import setup_logging

app = typer.Typer(help="Run a node.", no_args_is_help=True)


@app.command("run")
def run(
    config: Path = typer.Option(..., "--config", "-c", help="Node config TOML (see nodes/example.toml)."),
    set_: list[str] = typer.Option([], "--set", help="Override a config value, e.g. --set gossip.period=0.5 (repeatable)."),
    log_level: str = typer.Option("", "--log-level", help="DEBUG, INFO, WARNING... (default: node.log_level)."),
) -> None:
    """Run a node: train on local data, gossip encrypted, signed model deltas with its neighbours."""
    from p2pfed.node.runner import serve  # imports torch: keep `p2pfed --help` fast

    cfg = load_node_config(config, set_)
    setup_logging(cfg.node.id, log_level or cfg.node.log_level, cfg.node.log_file or None)
    asyncio.run(serve(cfg))
