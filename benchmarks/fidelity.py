"""Simulator fidelity: the same small federation run by `p2pfed launch` (real processes) and by the simulator.

For each seed, one scenario (default: 8 nodes, ring, no churn, synthetic data, node defaults) is
run twice:

- **launch**: `p2pfed launch` as a user runs it: N real `p2pfed node run` processes on
  127.0.0.1 exchanging encrypted, signed deltas over ZeroMQ, for `--duration` wall seconds once
  every node is up; its summary's final held-out accuracy, mean over nodes;
- **sim**: `p2pfed.sim.engine.Simulation` of the same scenario (same data seed, users 0..N-1,
  held-out users, initial model, optimiser, topology, gossip period and local steps) for
  `--duration` virtual seconds; its final `acc_mean`.

Node ids differ (launch: n0..n7; simulator: n000..n007), so batch streams and gossip partner
choices differ: the comparison is statistical, which is why it runs several seeds.  With
`--controls` it also runs two deliberately broken simulators per seed (no merging: every node
trains alone; no training: gossip only) to show how far a wrong simulator lands.

    .venv/bin/python benchmarks/fidelity.py                      # seeds 0-4, 40 s each: ~6 minutes
    .venv/bin/python benchmarks/fidelity.py --seeds 0 --duration 10   # a quick look
        --seeds S [S ...]   seeds (default 0 1 2 3 4)
        --duration S        seconds of gossip: wall (launch, after all nodes are up) = virtual (sim)
        --nodes N --topology SPEC
        --controls          also run the broken-simulator controls
        --out FILE          JSON result file (default benchmarks/results/fidelity-<time>.json)
        --json              print the JSON instead of the table

tests/sim/test_fidelity.py runs one seed of the same scenario and asserts the 2-point
acceptance tolerance (issue 4).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from p2pfed.sim.engine import Simulation  # noqa: E402
from p2pfed.sim.spec import load_spec  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: --controls: deliberately broken simulators (the override that breaks each)
BROKEN = {"no_merging": "sim.algorithm='local'", "no_training": "model.local_steps=0"}


def sim_overrides(seed: int, duration: float, nodes: int, topology: str) -> list[str]:
    """Spec overrides that make the simulator run what `p2pfed launch --seed SEED` runs.

    `p2pfed launch` gives node i synthetic user i with `data.seed = model.init_seed = seed` and
    builds the graph with `seed`; every other node setting is the node default, which is also the
    spec default.  `sim.seed` fixes the simulator's own randomness (identities, core RNGs, jitter).
    """
    return [
        f"sim.nodes={nodes}",
        f"sim.duration={duration}",
        "sim.sample_interval=1.0",
        f"sim.seed={seed}",
        f"topology.spec='{topology}'",
        f"topology.seed={seed}",
        f"data.seed={seed}",
        f"model.init_seed={seed}",
    ]


def run_sim(
    seed: int, duration: float, nodes: int, topology: str, out: Path, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Simulate the scenario; final held-out accuracy, the accuracy curve and per-node activity."""
    t0 = time.perf_counter()
    spec = load_spec(None, [*sim_overrides(seed, duration, nodes, topology), *extra])
    sim = Simulation(spec, out, progress=False)
    summary = sim.run()
    curve = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    cores = [n.core for n in sim.nodes if n.core is not None]
    return {
        "acc": summary["final"]["acc_mean"],
        "curve": {round(r["t"]): r["acc_mean"] for r in curve},
        "train_steps_per_node": statistics.fmean(c.counters.train_steps for c in cores),
        "exchanges_per_node": statistics.fmean(c.counters.exchanges for c in cores),
        "rejections": summary["final"]["rejections"],
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def run_launch(
    seed: int, duration: float, nodes: int, topology: str, out: Path, timeout: float = 300.0
) -> dict[str, Any]:
    """`p2pfed launch` the scenario as a subprocess; its summary's final held-out accuracy and activity.

    On a timeout the launcher gets SIGINT (it stops its nodes cleanly), then SIGKILL; its nodes
    also exit on their own when the launcher dies (`runtime.parent_pid`).
    """
    cmd = [
        sys.executable, "-m", "p2pfed", "launch",
        "--nodes", str(nodes), "--topology", topology, "--duration", f"{duration:g}",
        "--seed", str(seed), "--out", str(out), "--no-baselines",
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise RuntimeError(f"p2pfed launch did not finish within {timeout:.0f}s (run folder {out})") from None
    if proc.returncode != 0:
        raise RuntimeError(f"p2pfed launch failed with exit code {proc.returncode}:\n{stdout}\n{stderr}")
    summary = json.loads((out / "summary.json").read_text())
    g = summary["gossip"]
    n = summary["nodes"]
    up = re.search(r"nodes up after ([\d.]+)s", stderr)
    return {
        "acc": g["heldout_acc"]["mean"],
        "acc_min": g["heldout_acc"]["min"],
        "train_steps_per_node": g["train_steps"] / n,
        "exchanges_per_node": g["exchanges"] / n,
        "node_run_s": statistics.fmean(r["elapsed"] for r in summary["per_node"].values()),
        "rejections": sum(g["rejections"].values()),
        "abnormal_exits": summary["run"]["abnormal_exits"],
        "startup_s": float(up.group(1)) if up else None,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def measure(
    seeds: list[int], duration: float, nodes: int, topology: str, controls: bool, work: Path
) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        sim = run_sim(seed, duration, nodes, topology, work / f"sim-{seed}")
        row: dict[str, Any] = {"seed": seed, "sim": sim}
        if controls:
            for key, broken in BROKEN.items():
                row[key] = run_sim(seed, duration, nodes, topology, work / f"{key}-{seed}", (broken,))["acc"]
        row["launch"] = run_launch(seed, duration, nodes, topology, work / f"launch-{seed}")
        row["diff"] = row["launch"]["acc"] - sim["acc"]
        rows.append(row)
        print(
            f"seed {seed}: launch {100 * row['launch']['acc']:.1f}%  sim {100 * sim['acc']:.1f}%  "
            f"diff {100 * row['diff']:+.1f} points",
            file=sys.stderr,
        )
    return rows


def print_table(rows: list[dict[str, Any]], duration: float, controls: bool) -> None:
    d = int(round(duration))
    head = (
        f"{'seed':>4} | {'launch':>7} | {'sim':>7} | {'diff':>6} | {f'sim t={d - 5}':>9} | "
        f"{'launch steps/exch':>17} | {'sim steps/exch':>14}"
    )
    head += f" | {'no merging':>10} | {'no training':>11}" if controls else ""
    print(head)
    print("-" * len(head))
    for r in rows:
        la, si = r["launch"], r["sim"]
        earlier = si["curve"].get(d - 5)
        line = (
            f"{r['seed']:>4} | {100 * la['acc']:6.1f}% | {100 * si['acc']:6.1f}% | {100 * r['diff']:+6.1f} | "
            f"{'' if earlier is None else f'{100 * earlier:8.1f}%':>9} | "
            f"{la['train_steps_per_node']:8.0f} /{la['exchanges_per_node']:5.0f}  | "
            f"{si['train_steps_per_node']:6.0f} /{si['exchanges_per_node']:5.0f}"
        )
        if controls:
            line += f" | {100 * r['no_merging']:9.1f}% | {100 * r['no_training']:10.1f}%"
        print(line)
    diffs = [100 * r["diff"] for r in rows]
    print(
        f"diff (points): mean {statistics.fmean(diffs):+.2f}, "
        f"mean |diff| {statistics.fmean(map(abs, diffs)):.2f}, "
        f"max |diff| {max(map(abs, diffs)):.2f}"
        + (f", sd {statistics.stdev(diffs):.2f}" if len(diffs) > 1 else "")
    )
    ups = [r["launch"]["startup_s"] for r in rows if r["launch"]["startup_s"] is not None]
    runs = [r["launch"]["node_run_s"] for r in rows]
    if ups:
        print(
            f"launch: nodes up after {min(ups):.1f}-{max(ups):.1f} s; "
            f"each node's driver ran {statistics.fmean(runs):.1f} s "
            f"on average (the simulator: {duration:g} virtual s)"
        )


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--nodes", type=int, default=8)
    ap.add_argument("--topology", default="ring")
    ap.add_argument("--controls", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="p2pfed-fidelity-") as tmp:
        rows = measure(a.seeds, a.duration, a.nodes, a.topology, a.controls, Path(tmp))
    result = {
        "scenario": {"nodes": a.nodes, "topology": a.topology, "duration_s": a.duration, "churn": "none"},
        "rows": rows,
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": platform.python_version()},
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    out = a.out or RESULTS / f"fidelity-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if a.json:
        print(json.dumps(result))
    else:
        print_table(rows, a.duration, a.controls)
        print(f"results: {out} ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
