"""`p2pfed launch`: start N real node processes on this machine, show progress, summarise."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from p2pfed.evaluation.summary import comparison_rows, pct, summarize, verdict, write_summary
from p2pfed.launch.local import LaunchSpec, LocalFederation
from p2pfed.log import setup_logging

console = Console(stderr=True)


def launch(
    nodes: int = typer.Option(8, "--nodes", "-n", help="Number of nodes (with --data: at most one per subject; 0 = all)."),
    topology: str = typer.Option("k-regular:k=4", "--topology", "-t", help="ring, complete, star, k-regular:k=4, erdos-renyi:p=0.3, small-world:k=4,p=0.1, file:PATH"),
    duration: float = typer.Option(60.0, "--duration", "-d", help="Seconds of gossip once all nodes are up (0 = until Ctrl-C)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, topology and initial model."),
    data: Path | None = typer.Option(None, "--data", help=".npz with X, y, subject: one node per subject (default: synthetic fitness data)."),
    eval_data: Path | None = typer.Option(None, "--eval-data", help=".npz of held-out people, for held-out accuracy (with --data)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder (default: runs/<timestamp>)."),
    set_: list[str] = typer.Option([], "--set", help="Override a value in every node config, e.g. --set gossip.period=0.5."),
    base_port: int = typer.Option(0, "--base-port", help="First port; nodes use consecutive ports (default: free ports)."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Also train local-only and central references."),
) -> None:
    """Launch a local federation of real node processes on 127.0.0.1 and summarise the run."""
    setup_logging("launch", "WARNING")
    spec = LaunchSpec(
        nodes=nodes,
        topology=topology,
        duration=duration,
        seed=seed,
        data=str(data) if data else "",
        eval_data=str(eval_data) if eval_data else "",
        base_port=base_port,
        overrides=tuple(set_),
        out=str(out) if out else "",
    )
    fed = LocalFederation.prepare(spec)
    n = len(fed.ids)
    source = f"{spec.data} (subjects {fed.subjects})" if spec.data else "synthetic fitness data, one user per node"
    console.print(f"[bold]p2pfed launch[/]: {n} nodes, topology {spec.topology}, {source}")
    console.print(f"run folder: {fed.run_dir} (keys, roster, node configs, logs, metrics)")
    t0 = time.monotonic()
    interrupted = False
    fed.start_all()
    try:
        with console.status(f"starting {n} node processes..."):
            fed.wait_until_up()
        console.print(f"all {n} nodes up after {time.monotonic() - t0:.1f}s; gossiping for {spec.duration:.0f}s (Ctrl-C stops early)")
        _monitor(fed, spec.duration)
    except KeyboardInterrupt:
        interrupted = True
        console.print("interrupted: stopping the nodes")
    finally:
        with console.status("stopping nodes (SIGTERM, then final checkpoint)..."):
            codes = fed.stop_all()
    bad = {i: c for i, c in codes.items() if c not in (0, None)}
    final = {i: recs[-1] for i in fed.ids if (recs := fed.records(i))}
    if not final:
        console.print("[red]no node wrote any metrics; see the logs in[/]", fed.run_dir / "logs")
        raise typer.Exit(1)
    base = None
    if baselines and not interrupted:
        from p2pfed.evaluation.baselines import run_baselines  # imports torch

        configs = [fed.node_config(i) for i in fed.ids if i in final]
        steps = [int(final[c.node.id].get("train_steps", 0)) for c in configs]
        with console.status("training baselines...") as st:
            base = run_baselines(configs, steps, progress=lambda m: st.update(m))
    summary = summarize(
        final,
        base,
        run={
            "nodes": n,
            "topology": spec.topology,
            "data": spec.data or "synthetic",
            "duration_s": spec.duration,
            "wall_s": round(time.monotonic() - t0, 1),
            "seed": spec.seed,
            "interrupted": interrupted,
            "abnormal_exits": bad,
        },
    )
    jpath, mpath = write_summary(fed.run_dir, summary)
    _print_summary(summary)
    if bad:
        console.print(f"[yellow]nodes that did not exit cleanly: {bad}; see {fed.run_dir / 'logs'}[/]")
    console.print(f"summary: {jpath} and {mpath}")


def _table(fed: LocalFederation, elapsed: float, duration: float) -> Table:
    snap = fed.snapshot()
    exited = fed.exited()
    g = summarize(snap)["gossip"]
    total = f"/{duration:.0f}s" if duration else "s"
    t = Table(
        title=f"{elapsed:.0f}{total} | mean accuracy: held-out people {pct(g['heldout_acc']['mean'])}, "
        f"own data {pct(g['local_acc']['mean'])} | exchanges {g['exchanges']} | rejected {sum(g['rejections'].values())}",
        title_justify="left",
    )
    for col in ("node", "status", "held-out acc", "own acc", "exchanges", "steps", "alive nbrs", "rejected"):
        t.add_column(col, justify="right" if col != "node" else "left")
    if len(fed.ids) > 24:  # large runs: aggregate only
        return t
    for i in fed.ids:
        r = snap.get(i, {})
        status = f"exited {exited[i]}" if i in exited else "up"
        t.add_row(
            i,
            status,
            pct(r.get("heldout_acc")) if r else "-",
            pct(r.get("local_acc")) if r else "-",
            str(r.get("exchanges", "-")),
            str(r.get("train_steps", "-")),
            f"{r.get('alive', '-')}/{r.get('neighbours', '-')}",
            str(sum((r.get("rejections") or {}).values())) if r else "-",
        )
    return t


def _monitor(fed: LocalFederation, duration: float) -> None:
    start = time.monotonic()
    end = start + duration if duration > 0 else float("inf")
    if console.is_terminal:
        with Live(_table(fed, 0, duration), console=console, refresh_per_second=2) as live:
            while time.monotonic() < end:
                time.sleep(1.0)
                live.update(_table(fed, time.monotonic() - start, duration))
        return
    last = 0.0
    while time.monotonic() < end:
        time.sleep(1.0)
        now = time.monotonic() - start
        if now - last >= 10 or now >= duration > 0:
            last = now
            console.print(_table(fed, now, duration).title)


def _print_summary(summary: dict[str, Any]) -> None:
    t = Table(title="final accuracy", title_justify="left")
    t.add_column("method")
    t.add_column("held-out people", justify="right")
    t.add_column("own held-out data", justify="right")
    for row in comparison_rows(summary):
        t.add_row(*row)
    Console().print(t)
    v = verdict(summary)
    if v:
        Console().print(v)
