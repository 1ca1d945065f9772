"""Baseline: gossipy's (gossipy-dfl 0.0.1) node-updates/s on a 174-64-6 MLP, next to p2pfed's learners.

gossipy is a pure-Python gossip learning simulator (torch models, no crypto). It lives in its own
venv, `.venv-gossipy`, because it pins nothing sensible for Python 3.11 and must not touch the
project's `.venv`:

    python3 benchmarks/bench_gossipy.py setup          # create .venv-gossipy (CPU torch, gossipy-dfl)
    .venv/bin/python benchmarks/bench_gossipy.py       # measure (default 1000 nodes x 10 rounds)
        --rounds N --nodes N --rows N --epochs N --batch-size N --threads N --only gossipy|p2pfed

It prints ONE JSON line: what gossipy did per node-update (its `TorchModelHandler` merges the
received model and then trains `local_epochs` epochs of minibatches of `batch_size` over the
node's rows: ceil(rows / batch_size) SGD steps per epoch) and how many node-updates per second it
managed, then p2pfed doing the same work per update (merge with a peer's model, then the same
number of SGD steps of the same batch size) with `TorchLearner` one node at a time and with
`NumpyMLPLearner` + `train_many` over all nodes, and the ratios.

The gossipy run uses its own `GossipSimulator` exactly as its documentation does (PUSH protocol,
`CreateModelMode.MERGE_UPDATE`, `StaticP2PNetwork` fully connected, no message drops or delays,
synchronous nodes: every node sends once per round, so a round is `nodes` node-updates), with no
evaluation during the run (evaluation is a separate cost; gossipy would evaluate every node on the
test set at the end of every round). Timed: `simulator.start(rounds)` only, not building the
nodes nor gossipy's initial local training of every node in `init_nodes`.

gossipy imports torchvision at module level but uses it only to download CIFAR10/FashionMNIST.
The PyPI torchvision wheels are built against CUDA torch, so it is not installed; if it is
missing, the child process registers an empty placeholder module so `import gossipy` works
(anything that touched it would fail loudly; nothing here does).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOSSIPY_VENV = ROOT / ".venv-gossipy"
GOSSIPY_PYTHON = GOSSIPY_VENV / "bin" / "python"

#: What `setup` installs: torch first (CPU build; PIP_FIND_LINKS or the CPU index), then gossipy
#: without its declared dependencies (it declares an unpinned `torch`, which would pull CUDA
#: builds), then the dependencies it actually imports.
TORCH_REQ = "torch==2.13.0"
GOSSIPY_REQ = "gossipy-dfl==0.0.1"
GOSSIPY_DEPS = ["numpy", "pandas", "scikit-learn", "scipy", "dill", "rich", "matplotlib", "tqdm", "networkx"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


# ---------------------------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------------------------


def setup() -> None:
    """Create `.venv-gossipy` with CPU-only torch and gossipy-dfl; refuse CUDA/nvidia packages."""
    python = shutil.which("python3") or sys.executable
    if not GOSSIPY_PYTHON.exists():
        subprocess.run([python, "-m", "venv", str(GOSSIPY_VENV)], check=True)
    pip = [str(GOSSIPY_PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    torch_cmd = [*pip, TORCH_REQ]
    if not os.environ.get("PIP_FIND_LINKS"):
        torch_cmd += ["--index-url", CPU_INDEX]
    subprocess.run(torch_cmd, check=True)
    subprocess.run([*pip, "--no-deps", GOSSIPY_REQ], check=True)
    subprocess.run([*pip, *GOSSIPY_DEPS], check=True)
    listing = subprocess.run(
        [str(GOSSIPY_PYTHON), "-m", "pip", "list", "--format=freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    bad = [line for line in listing.splitlines() if line.lower().startswith(("nvidia", "cuda", "triton"))]
    torch_line = next((line for line in listing.splitlines() if line.lower().startswith("torch==")), "")
    if bad or "+cpu" not in torch_line:
        sys.exit(
            f"error: {GOSSIPY_VENV} got a non-CPU torch ({torch_line}) or CUDA packages {bad}; delete it"
        )
    print(f"ready: {GOSSIPY_PYTHON} ({torch_line}, {GOSSIPY_REQ})")


# ---------------------------------------------------------------------------------------------
# shared: synthetic data shaped like UCI HAR features
# ---------------------------------------------------------------------------------------------


def synthetic(nodes: int, rows: int, features: int, classes: int, seed: int):  # type: ignore[no-untyped-def]
    """(X (nodes*rows, features) float32, y int64): Gaussian classes, standardised, IID over nodes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, features)).astype(np.float32)
    y = rng.integers(0, classes, size=nodes * rows)
    X = centres[y] + rng.normal(scale=2.0, size=(nodes * rows, features)).astype(np.float32)
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(np.float32), y.astype(np.int64)


def steps_per_update(rows: int, batch_size: int, epochs: int) -> int:
    """SGD steps gossipy's TorchModelHandler runs per update: ceil(rows / batch) per epoch."""
    return epochs * math.ceil(rows / batch_size)


# ---------------------------------------------------------------------------------------------
# gossipy (runs inside .venv-gossipy)
# ---------------------------------------------------------------------------------------------


def run_gossipy(a: argparse.Namespace) -> dict:
    try:
        import torchvision  # noqa: F401

        placeholder = False
    except ImportError:
        sys.modules["torchvision"] = types.ModuleType("torchvision")  # see the module docstring
        placeholder = True
    import numpy as np
    import torch
    import torch.nn.functional as F
    from gossipy import set_seed
    from gossipy.core import AntiEntropyProtocol, CreateModelMode, StaticP2PNetwork
    from gossipy.data import DataDispatcher
    from gossipy.data.handler import ClassificationDataHandler
    from gossipy.model.handler import TorchModelHandler
    from gossipy.model.nn import TorchMLP
    from gossipy.node import GossipNode
    from gossipy.simul import GossipSimulator, SimulationReport

    torch.set_num_threads(a.threads)
    set_seed(a.seed)
    X, y = synthetic(a.nodes, a.rows, a.features, a.classes, a.seed)
    t_build = time.perf_counter()
    handler = ClassificationDataHandler(torch.from_numpy(X), torch.from_numpy(y), test_size=0)
    dispatcher = DataDispatcher(handler, n=a.nodes, eval_on_user=False, auto_assign=True)
    net = TorchMLP(a.features, a.classes, (a.hidden,))
    proto = TorchModelHandler(
        net=net,
        optimizer=torch.optim.SGD,
        optimizer_params={"lr": a.lr},
        criterion=F.cross_entropy,
        local_epochs=a.epochs,
        batch_size=a.batch_size,
        create_model_mode=CreateModelMode.MERGE_UPDATE,
    )
    nodes = GossipNode.generate(
        data_dispatcher=dispatcher,
        p2p_net=StaticP2PNetwork(a.nodes, None),
        model_proto=proto,
        round_len=a.round_len,
        sync=True,
    )
    sim = GossipSimulator(
        nodes=nodes, data_dispatcher=dispatcher, delta=a.round_len, protocol=AntiEntropyProtocol.PUSH
    )
    report = SimulationReport()
    sim.add_receiver(report)
    sim.init_nodes(seed=a.seed)
    build_s = time.perf_counter() - t_build
    t0, c0 = time.perf_counter(), time.process_time()
    sim.start(n_rounds=a.rounds)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    delivered = report._sent_messages - report._failed_messages  # PUSH: one update per delivery
    sizes = {len(nodes[i].data[0][1]) for i in range(a.nodes)}
    return {
        "library": "gossipy-dfl 0.0.1",
        "torch": torch.__version__,
        "torchvision_placeholder": placeholder,
        "nodes": a.nodes,
        "rounds": a.rounds,
        "rows_per_node": sorted(sizes),
        "node_updates": int(delivered),
        "seconds": round(seconds, 3),
        "node_updates_per_s": round(delivered / seconds, 1),
        "cpu_seconds": round(cpu, 3),
        "build_and_init_seconds": round(build_s, 3),
        "per_update": {
            "merge": "average with the received model",
            "local_epochs": a.epochs,
            "batch_size": a.batch_size,
            "sgd_steps": steps_per_update(a.rows, a.batch_size, a.epochs),
            "samples": a.epochs * a.rows,
        },
        "final_mean_n_updates": float(np.mean([nodes[i].model_handler.n_updates for i in range(a.nodes)])),
    }


# ---------------------------------------------------------------------------------------------
# p2pfed (runs in the project's .venv): the same work per node-update
# ---------------------------------------------------------------------------------------------


def run_p2pfed(a: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from p2pfed.config import ModelConfig
    from p2pfed.learning.torch_learner import TorchLearner
    from p2pfed.learning.numpy_mlp import NumpyMLPLearner, train_many
    from p2pfed.types import LocalData, Split

    torch.set_num_threads(a.threads)
    steps = steps_per_update(a.rows, a.batch_size, a.epochs)
    X, y = synthetic(a.nodes, a.rows, a.features, a.classes, a.seed)
    cfg = ModelConfig(hidden=(a.hidden,), lr=a.lr, batch_size=a.batch_size)
    datas = [
        LocalData(
            Split(X[i * a.rows : (i + 1) * a.rows], y[i * a.rows : (i + 1) * a.rows]),
            Split(X[:0], y[:0]),
            a.classes,
        )
        for i in range(a.nodes)
    ]
    rng = np.random.default_rng(a.seed)

    def peers() -> np.ndarray:
        """A random other node for every node (a round of push gossip, fully connected)."""
        off = rng.integers(1, a.nodes, size=a.nodes)
        return (np.arange(a.nodes) + off) % a.nodes

    out: dict[str, object] = {
        "per_update": {
            "merge": "average with a random peer's model",
            "sgd_steps": steps,
            "batch_size": a.batch_size,
        }
    }

    # NumpyMLPLearner, all nodes of a round in one train_many call
    nps = [NumpyMLPLearner(cfg, d, seed=i) for i, d in enumerate(datas)]
    P = np.stack([nps[0].initial_params()] * a.nodes)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.rounds):
        merged = (P + P[peers()]) * np.float32(0.5)
        res = train_many([(lrn, merged[i], steps) for i, lrn in enumerate(nps)])
        P = np.stack([r[0] for r in res])
    out["numpy_train_many"] = measured(a.nodes * a.rounds, t0, c0)

    # TorchLearner, one node at a time (what a node process does); fewer rounds if slow
    tls = [TorchLearner(cfg, d, seed=i) for i, d in enumerate(datas)]
    P = np.stack([tls[0].initial_params()] * a.nodes)
    rounds = max(1, min(a.rounds, a.torch_rounds))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        merged = (P + P[peers()]) * np.float32(0.5)
        for i, lrn in enumerate(tls):
            P[i] = lrn.train(merged[i], steps)[0]
    out["torch_one_by_one"] = measured(a.nodes * rounds, t0, c0)
    return out


def measured(updates: int, t0: float, c0: float) -> dict[str, float]:
    """Rate since (wall `t0`, CPU `c0`); CPU well below wall time means the machine was busy."""
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "node_updates": updates,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "node_updates_per_s": round(updates / seconds, 1),
    }


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", nargs="?", choices=["run", "setup"], default="run")
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--rows", type=int, default=300, help="training rows per node")
    p.add_argument("--features", type=int, default=174)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1, help="gossipy local_epochs per update")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--round-len", type=int, default=100, help="gossipy time steps per round")
    p.add_argument("--threads", type=int, default=1, help="torch and OpenBLAS threads (both sides)")
    p.add_argument("--torch-rounds", type=int, default=3, help="cap on rounds for p2pfed's TorchLearner")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=["gossipy", "p2pfed"], default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str]) -> None:
    a = parse(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))  # before numpy loads (lazily, below)
    if a.command == "setup":
        setup()
        return
    if a.child:  # inside .venv-gossipy
        print(json.dumps(run_gossipy(a)))
        return
    result: dict[str, object] = {
        "benchmark": "gossipy_baseline",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_1min": os.getloadavg()[0],
            "threads": a.threads,
        },
        "config": {
            k: getattr(a, k)
            for k in (
                "nodes",
                "rounds",
                "rows",
                "features",
                "hidden",
                "classes",
                "batch_size",
                "epochs",
                "lr",
                "seed",
            )
        },
    }
    if a.only in (None, "gossipy"):
        if not GOSSIPY_PYTHON.exists():
            result["gossipy"] = {
                "error": f"{GOSSIPY_VENV} missing: run `python3 {Path(__file__).name} setup`"
            }
        else:
            proc = subprocess.run(
                [str(GOSSIPY_PYTHON), __file__, "--child", *argv],
                check=False,
                capture_output=True,
                text=True,
                env={**os.environ, "TERM": "dumb"},
            )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode or not lines:
                result["gossipy"] = {"error": (proc.stderr or proc.stdout)[-2000:]}
            else:
                result["gossipy"] = json.loads(lines[-1])
    if a.only in (None, "p2pfed"):
        sys.path.insert(0, str(ROOT))
        result["p2pfed"] = run_p2pfed(a)
    g = result.get("gossipy")
    p = result.get("p2pfed")
    if isinstance(g, dict) and "node_updates_per_s" in g and isinstance(p, dict):
        base = g["node_updates_per_s"]
        result["ratio_vs_gossipy"] = {
            k: round(v["node_updates_per_s"] / base, 2)
            for k, v in p.items()
            if isinstance(v, dict) and "seconds" in v
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
