"""Node-updates per second of TorchLearner, NumpyMLPLearner and train_many on the 174-64-6 MLP.

One node-update = `local_steps` (default 5) SGD steps of batch 32, what a node does per gossip
period. Every node has its own data (300 rows x 174 features, 6 classes, like a uci_hapt
volunteer), its own learner and batch stream. Measured in one run, interleaved, so every figure
is comparable with the TorchLearner baseline next to it:

    .venv/bin/python benchmarks/bench_learners.py            # about 10 s
    .venv/bin/python benchmarks/bench_learners.py --quick    # seconds; smoke test, figures meaningless
        --repeats N   rounds of measurements (median reported; default 5, quick 1)
        --json        print one JSON line instead of the table

Torch runs with 1 intra-op thread (a node's default); OpenBLAS is limited to 1 thread too
(OPENBLAS_NUM_THREADS, set before numpy loads unless already set), so both use one core.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from p2pfed.config import ModelConfig  # noqa: E402
from p2pfed.learning.torch_learner import TorchLearner  # noqa: E402
from p2pfed.learning.numpy_mlp import NumpyMLPLearner, train_many  # noqa: E402
from p2pfed.types import LocalData, Split  # noqa: E402

ROWS, FEATURES, CLASSES, HIDDEN = 300, 174, 6, 64


def node_data(i: int) -> LocalData:
    rng = np.random.default_rng(i)
    centres = np.random.default_rng(12345).normal(size=(CLASSES, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=ROWS)
    X = (centres[y] + rng.normal(scale=2.0, size=(ROWS, FEATURES))).astype(np.float32)
    return LocalData(Split(X, y), Split(X[:0], y[:0]), CLASSES)


def one_by_one(learners: list, params: np.ndarray, steps: int) -> Callable[[], int]:
    def run() -> int:
        for lrn in learners:
            lrn.train(params, steps)
        return len(learners)

    return run


def batched(learners: list[NumpyMLPLearner], params: np.ndarray, steps: int) -> Callable[[], int]:
    jobs = [(lrn, params, steps) for lrn in learners]

    def run() -> int:
        train_many(jobs)
        return len(jobs)

    return run


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--steps", type=int, default=5, help="SGD steps per node-update (model.local_steps)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    repeats = a.repeats or (1 if a.quick else 5)
    sizes = (10, 100) if a.quick else (10, 100, 1000)
    singles = 20 if a.quick else 100  # nodes trained one by one per measurement

    torch.set_num_threads(1)
    cfg = ModelConfig(hidden=(HIDDEN,), batch_size=32, local_steps=a.steps)
    datas = [node_data(i) for i in range(max(sizes))]
    torch_learners = [TorchLearner(cfg, d, seed=i) for i, d in enumerate(datas[:singles])]
    np_learners = [NumpyMLPLearner(cfg, d, seed=i) for i, d in enumerate(datas)]
    params = np_learners[0].initial_params()
    np.testing.assert_array_equal(params, torch_learners[0].initial_params())

    variants: dict[str, Callable[[], int]] = {
        "TorchLearner.train, one by one": one_by_one(torch_learners, params, a.steps),
        "NumpyMLPLearner.train, one by one": one_by_one(np_learners[:singles], params, a.steps),
    }
    for k in sizes:
        variants[f"train_many, K={k}"] = batched(np_learners[:k], params, a.steps)

    for run in variants.values():  # warm-up: caches, first permutations, lazy torch init
        run()
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            t0 = time.perf_counter()
            n = run()
            rates[name].append(n / (time.perf_counter() - t0))

    base = statistics.median(rates["TorchLearner.train, one by one"])
    result = {
        "benchmark": "learners",
        "model": f"mlp {FEATURES}-{HIDDEN}-{CLASSES}",
        "node_update": f"{a.steps} SGD steps of batch 32 on {ROWS} rows",
        "repeats": repeats,
        "load_1min": os.getloadavg()[0],
        "threads": {"torch": torch.get_num_threads(), "openblas": os.environ.get("OPENBLAS_NUM_THREADS")},
        "node_updates_per_s": {
            name: {
                "median": round(statistics.median(r), 1),
                "min": round(min(r), 1),
                "max": round(max(r), 1),
                "vs_torch": round(statistics.median(r) / base, 2),
            }
            for name, r in rates.items()
        },
    }
    if a.json:
        print(json.dumps(result))
        return
    print(f"{result['model']}, one node-update = {result['node_update']}; median of {repeats} [min-max]")
    print(f"{'variant':36s} {'node-updates/s':>28s} {'vs torch':>9s}")
    for name, r in result["node_updates_per_s"].items():  # type: ignore[union-attr]
        spread = f"{r['median']:9.0f} [{r['min']:.0f}-{r['max']:.0f}]"
        print(f"{name:36s} {spread:>28s} {r['vs_torch']:8.2f}x")
    print(f"load average (1 min) during the run: {result['load_1min']:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main(sys.argv[1:])
