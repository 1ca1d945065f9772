"""`p2pfed simulate`: run a simulation spec under a virtual clock and print its outcome."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from p2pfed.evaluation.summary import pct
from p2pfed.log import setup_logging
from p2pfed.sim.engine import Simulation
from p2pfed.sim.spec import load_spec

console = Console(stderr=True)


def simulate(
    spec: Path | None = typer.Argument(None, help="Simulation spec TOML (see simulations/); omit for the built-in defaults."),
    set_: list[str] = typer.Option([], "--set", help="Override a spec value, e.g. --set sim.nodes=100 --set churn.preset=smartphone."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder (default: runs/sim-<name>-<timestamp>)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    log_level: str = typer.Option("WARNING", "--log-level", help="Logging level of the simulated nodes."),
) -> None:
    """Simulate N nodes of the real node core on an in-memory network under a virtual clock."""
    setup_logging("sim", log_level)
    s = load_spec(spec, set_)
    run_dir = out or Path("runs") / f"sim-{s.sim.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with console.status("building nodes (data, keys, learners)..."):
        sim = Simulation(s, run_dir, progress=not quiet)
    crypto = "fast mode: NO encryption/signatures" if s.sim.fast else "real encryption and signatures"
    console.print(
        f"[bold]p2pfed simulate[/] {s.sim.name}: {len(sim.nodes)} nodes, {s.topology.spec}, {s.sim.algorithm}, "
        f"churn {s.churn.preset or s.churn.model}, {s.sim.duration:g} virtual s, {crypto}"
    )
    summary = sim.run()
    f = summary["final"]
    table = Table(title=f"{s.sim.name} at t = {f['t']:g} virtual s")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, key in (
        ("held-out accuracy, mean over nodes", "acc_mean"),
        ("held-out accuracy, worst 10 % of nodes", "acc_p10"),
        ("own-data accuracy, mean over nodes", "local_acc_mean"),
        ("own-data accuracy, worst 10 %", "local_acc_p10"),
    ):
        table.add_row(label, pct(f.get(key)))
    table.add_row("consensus distance", f"{f['consensus']:.4g}")
    table.add_row("online fraction (run average)", f"{summary['online_fraction']:.2f}")
    table.add_row("messages / bytes sent per node", f"{f['msgs_per_node']:.0f} / {f['bytes_per_node'] / 1e6:.2f} MB")
    table.add_row("rejected messages", str(f["rejections"]))
    table.add_row("node-updates per wall second", f"{summary['node_updates_per_second']:.0f}")
    table.add_row("wall time", f"{summary['wall_seconds']:.1f} s")
    console.print(table)
    console.print(f"run folder: {run_dir} (metrics.jsonl, evaluation.json, summary.json); next: p2pfed report {run_dir}")
