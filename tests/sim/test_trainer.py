"""Where the simulator trains: lazily in process, or pipelined in a forked training process.

The training process is only worth having if it changes nothing but the speed, so the central
checks are bit-identity: grouping never changes a learner's result, the two trainers agree job by
job (with discards and restarts in between), and a whole simulation with churn writes the same
metrics either way.  Then the failure paths: a failing or killed worker raises a clear error.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from p2pfed.learning import numpy_mlp
from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.sim.engine import Simulation
from p2pfed.sim.spec import load_spec
from p2pfed.sim.trainer import AUTO_MIN_NODES, LocalTrainer, WorkerError, WorkerTrainer, make_trainer
from p2pfed.types import LocalData, Split

ROWS, FEATURES, CLASSES = 70, 12, 3


def learners(n: int, momentum: float = 0.0, weight_decay: float = 0.0, seed: int = 0) -> list[numpy_mlp.NumpyMLPLearner]:
    rng = np.random.default_rng(seed)
    cfg = ModelConfig(hidden=(16,), momentum=momentum, weight_decay=weight_decay, batch_size=8)
    out = []
    for i in range(n):
        X = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
        y = rng.integers(0, CLASSES, ROWS)
        out.append(numpy_mlp.NumpyMLPLearner(cfg, LocalData(Split(X, y), Split(X[:4], y[:4]), CLASSES), seed=i))
    return out


@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 1e-3)])
def test_grouping_never_changes_a_result(momentum: float, weight_decay: float) -> None:
    together, apart = learners(7, momentum, weight_decay), learners(7, momentum, weight_decay)
    pa = [lrn.initial_params() + np.float32(0.01 * i) for i, lrn in enumerate(together)]
    pb = [p.copy() for p in pa]
    for _ in range(3):  # stream positions and momentum carry over between calls
        ra = numpy_mlp.train_many([(lrn, p, 4) for lrn, p in zip(together, pa)])
        rb = (
            numpy_mlp.train_many([(lrn, p, 4) for lrn, p in zip(apart[:3], pb[:3])])
            + numpy_mlp.train_many([(apart[3], pb[3], 4)])
            + numpy_mlp.train_many([(lrn, p, 4) for lrn, p in zip(apart[4:], pb[4:])])
        )
        for (xa, sa), (xb, sb) in zip(ra, rb):
            assert np.array_equal(xa, xb)
            assert sa == sb
        pa, pb = [x for x, _ in ra], [x for x, _ in rb]
    assert not np.array_equal(pa[0], together[0].initial_params())  # it did train


def drive(trainer, n: int) -> list[tuple[int, np.ndarray, float]]:
    """A fixed script of submissions, results in finishing order, discards and restarts."""
    rng = np.random.default_rng(1)
    base = learners(1)[0].initial_params()
    params = {i: base + np.float32(0.001 * i) for i in range(n)}
    out: list[tuple[int, np.ndarray, float]] = []
    key = 0
    open_jobs: dict[int, int] = {}  # learner -> key
    for step in range(300):
        i = int(rng.integers(n))
        if i in open_jobs:
            k = open_jobs.pop(i)
            if rng.random() < 0.15:  # the node went down: its result is never asked for
                trainer.discard(k)
                trainer.restore(i, int(rng.integers(0, 200)))  # and later restarts from a checkpoint
            else:
                x, stats = trainer.result(k)
                params[i] = x
                out.append((k, x, stats.loss))
        else:
            key += 1
            open_jobs[i] = key
            trainer.submit(key, i, params[i], int(rng.integers(1, 4)))
    for i, k in sorted(open_jobs.items()):
        x, stats = trainer.result(k)
        out.append((k, x, stats.loss))
    return out


def test_worker_and_local_trainers_agree_bit_for_bit() -> None:
    local = LocalTrainer(learners(40))
    worker = WorkerTrainer(learners(40), local.learners[0].manifest.size)
    try:
        a, b = drive(local, 40), drive(worker, 40)
    finally:
        worker.close()
        local.close()
    assert len(a) == len(b) > 100
    for (ka, xa, la), (kb, xb, lb) in zip(a, b):
        assert ka == kb and np.array_equal(xa, xb) and la == lb
    assert not worker._proc.is_alive()


def test_restore_resets_the_batch_stream_and_the_optimiser() -> None:
    (lrn,) = learners(1, momentum=0.9)
    trainer = LocalTrainer([lrn])
    p = lrn.initial_params()
    trainer.submit(1, 0, p, 3)
    first, _ = trainer.result(1)
    trainer.restore(0, 0)
    assert lrn.samples_drawn == 0 and not lrn.state_arrays()["momentum"].any()
    trainer.submit(2, 0, p, 3)
    again, _ = trainer.result(2)
    assert np.array_equal(first, again)


def sim_spec(tmp: Path, mode: str, **extra: str):
    overrides = [
        "sim.nodes=24", "sim.duration=30.0", "sim.sample_interval=5.0", "sim.fast=true",
        "churn.preset='smartphone'", "churn.mean_online=4.0", "sim.checkpoint_interval=3.0",
        f"sim.train_process='{mode}'", *(f"{k}={v}" for k, v in extra.items()),
    ]
    return load_spec(None, overrides)


def test_a_simulation_with_churn_is_identical_with_the_training_process(tmp_path: Path) -> None:
    summaries = {}
    for mode in ("off", "on"):
        summaries[mode] = Simulation(sim_spec(tmp_path, mode), tmp_path / mode, progress=False).run()
    assert summaries["off"]["train_process"] is False and summaries["on"]["train_process"] is True
    assert summaries["on"]["crashes"] > 5 and summaries["on"]["node_updates"] > 100
    assert (tmp_path / "off" / "metrics.jsonl").read_bytes() == (tmp_path / "on" / "metrics.jsonl").read_bytes()
    ev = [json.loads((tmp_path / m / "evaluation.json").read_text()) for m in ("off", "on")]
    assert ev[0] == ev[1]


def test_auto_and_its_conditions() -> None:
    few = learners(3)
    assert isinstance(make_trainer("auto", few, few[0].manifest.size), LocalTrainer)  # too few nodes
    many = learners(AUTO_MIN_NODES)
    # trainings so short that hardly any is in flight: the pipe's round trip would only add waiting
    assert isinstance(make_trainer("auto", many, many[0].manifest.size, in_flight=1.0), LocalTrainer)
    assert isinstance(make_trainer("off", few, few[0].manifest.size), LocalTrainer)
    with pytest.raises(ConfigError, match="numpy learner"):
        make_trainer("on", [object()], 10)
    with pytest.raises(ConfigError, match="train_process"):
        load_spec(None, ["sim.train_process='always'"])


def test_a_parallel_sweep_worker_counts_only_its_share_of_the_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from p2pfed.sim import trainer
    from p2pfed.sim.sweep import executor

    monkeypatch.setattr(executor.logging, "basicConfig", lambda **kw: None)  # keep this process's logging
    alone = trainer.cpus_per_run()
    try:
        executor._init_worker(str(tmp_path / "sweep.log"), jobs=2)  # what a pool of 2 points runs first
        assert trainer.cpus_per_run() == max(1, alone // 2)
        trainer.share_cpus(10_000)
        assert trainer.cpus_per_run() == 1
        # with one CPU per run, "auto" never forks a training process
        many = learners(AUTO_MIN_NODES)
        assert isinstance(make_trainer("auto", many, many[0].manifest.size), LocalTrainer)
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="positive integer"):
                trainer.share_cpus(bad)  # type: ignore[arg-type]
    finally:
        trainer.share_cpus(1)
    assert trainer.cpus_per_run() == alone


def test_a_failing_worker_raises_a_clear_error() -> None:
    ls = learners(2)
    worker = WorkerTrainer(ls, ls[0].manifest.size)
    try:
        worker.submit(1, 5, ls[0].initial_params(), 2)  # learner 5 does not exist in the worker
        with pytest.raises(WorkerError, match="IndexError"):
            worker.result(1)
    finally:
        worker.close()
    assert not worker._proc.is_alive()


def test_a_killed_worker_raises_a_clear_error() -> None:
    ls = learners(2)
    worker = WorkerTrainer(ls, ls[0].manifest.size)
    try:
        os.kill(worker._proc.pid, signal.SIGKILL)
        worker._proc.join()
        with pytest.raises(WorkerError, match="died|gone"):
            worker.submit(1, 0, ls[0].initial_params(), 2)
            worker.result(1)
    finally:
        worker.close()
        worker.close()  # idempotent
