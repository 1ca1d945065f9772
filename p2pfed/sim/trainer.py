"""Where the simulator's local trainings run: lazily in the event loop, or pipelined in a second process.

A training's inputs are fixed the moment it starts (the node's parameters, its learner's batch
stream position and optimiser state), and its result is needed only when it finishes in virtual
time.  So the engine *submits* a training when a node starts it and asks for the *result* when the
completion event comes up:

- `LocalTrainer` computes nothing until a result is asked for, then trains every submitted job at
  once (`p2pfed.learning.many.train_many`: one stacked matmul for all numpy MLPs).
- `WorkerTrainer` runs the same `train_many` in a forked child process that holds its own copy of
  the learners (data pages shared copy-on-write).  Jobs go out in batches (about a third of the
  trainings in flight, at most two batches outstanding) and the event loop keeps processing
  messages while the worker trains, so training and protocol run on two cores at once; the loop
  waits only when it needs a result the worker has not finished.

Both give bit-identical results: a learner's training depends only on its own inputs, not on
which other jobs share its batch (tests/test_sim_trainer.py checks it), and each learner's jobs
reach it in submission order.  Parameters go to the worker and results come back through an
anonymous shared-memory block; the pipe carries small msgpack headers only (nothing is pickled).
"""

from __future__ import annotations

import logging
import math
import mmap
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

import msgpack
import numpy as np

from p2pfed.learning import numpy_mlp
from p2pfed.errors import ConfigError
from p2pfed.learning import many
from p2pfed.types import PARAM_DTYPE, TrainStats

log = logging.getLogger(__name__)


class Trainer(Protocol):
    """The engine's view of its trainings (job keys are unique, increasing integers)."""

    def submit(self, key: int, learner: int, params: np.ndarray, steps: int) -> None: ...

    def result(self, key: int) -> tuple[np.ndarray, TrainStats]: ...

    def discard(self, key: int) -> None:
        """The job's result will never be asked for (its node went down)."""
        ...

    def restore(self, learner: int, samples_drawn: int) -> None:
        """A node restarts: its batch stream resumes at `samples_drawn`, its optimiser state is fresh."""
        ...

    def close(self) -> None: ...


#: `sim.train_process = "auto"` uses a training process from this many nodes on (below, the
#: fork and the pipe cost more than they save) ...
AUTO_MIN_NODES = 64
#: ... and when at least this many trainings are in flight on average (virtual training time
#: over the gossip period, summed over nodes): with fewer, a result is wanted right after its
#: training starts, so the loop would wait for the round trip instead of working meanwhile.
AUTO_MIN_IN_FLIGHT = 4.0


_concurrent_runs = 1


def share_cpus(runs: int) -> None:
    """Declare this process one of `runs` simulations running at once (a parallel sweep's worker).

    "auto" then counts only this run's share of the CPUs, so a sweep that already keeps every
    core busy does not fork a training process per point and oversubscribe them.
    """
    global _concurrent_runs
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise ValueError(f"runs must be a positive integer, got {runs!r}")
    _concurrent_runs = runs


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cpus_per_run() -> int:
    """The CPUs this process may use divided by the simulations running at once (at least 1)."""
    return max(1, available_cpus() // _concurrent_runs)


def make_trainer(
    mode: str, learners: Sequence[Any], size: int, in_flight: float = math.inf
) -> LocalTrainer | WorkerTrainer:
    """The trainer for `sim.train_process` (auto | on | off) and these learners.

    "auto" picks the training process when it can help and is safe: numpy learners only (torch
    trains node by node and has its own threads), at least AUTO_MIN_NODES nodes and
    AUTO_MIN_IN_FLIGHT trainings in flight on average (`in_flight`), two or more CPUs available
    to this run (`cpus_per_run`: a parallel sweep's points share the machine's),
    fork available, and no other thread in this process (forking a threaded process is unsafe;
    a process that imported torch may hold its thread pools, so it counts as threaded).
    "on" insists (numpy learners and fork are still required); "off" never uses it.
    """
    numpy_only = bool(learners) and all(isinstance(lrn, numpy_mlp.NumpyMLPLearner) for lrn in learners)
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    if mode == "off":
        return LocalTrainer(learners)
    if mode == "on":
        if not numpy_only:
            raise ConfigError(
                "sim.train_process = 'on' needs the numpy learner (a plain MLP with sim.learner = 'auto' or 'numpy')"
            )
        if not can_fork:
            raise ConfigError("sim.train_process = 'on' needs the 'fork' start method (Linux, macOS)")
        return WorkerTrainer(learners, size)
    threaded = threading.active_count() > 1 or "torch" in sys.modules
    big = len(learners) >= AUTO_MIN_NODES and in_flight >= AUTO_MIN_IN_FLIGHT
    if numpy_only and can_fork and cpus_per_run() >= 2 and big and not threaded:
        return WorkerTrainer(learners, size)
    return LocalTrainer(learners)


def _restore(learner: Any, samples_drawn: int) -> None:
    if hasattr(learner, "samples_drawn"):
        learner.samples_drawn = samples_drawn
    if hasattr(learner, "load_state_arrays"):
        learner.load_state_arrays({})


class LocalTrainer:
    """Lazy, in-process: the first result asked for trains every job submitted so far in one batch."""

    def __init__(self, learners: Sequence[Any]) -> None:
        self.learners = learners
        self._pending: dict[int, tuple[int, np.ndarray, int]] = {}
        self._done: dict[int, tuple[np.ndarray, TrainStats]] = {}

    def submit(self, key: int, learner: int, params: np.ndarray, steps: int) -> None:
        self._pending[key] = (learner, params, steps)

    def result(self, key: int) -> tuple[np.ndarray, TrainStats]:
        if key not in self._done:
            keys = list(self._pending)
            jobs = [(self.learners[i], p, s) for i, p, s in self._pending.values()]
            self._pending.clear()
            self._done.update(zip(keys, many.train_many(jobs)))
        return self._done.pop(key)

    def discard(self, key: int) -> None:
        self._pending.pop(key, None)
        self._done.pop(key, None)

    def restore(self, learner: int, samples_drawn: int) -> None:
        _restore(self.learners[learner], samples_drawn)

    def close(self) -> None:
        self._pending.clear()
        self._done.clear()


class WorkerError(RuntimeError):
    """The training process failed or died."""


class WorkerTrainer:
    """Pipelined: batches of jobs train in a forked child process while the event loop goes on."""

    #: most jobs in one batch (as `p2pfed.learning.numpy_mlp.TRAIN_CHUNK`: bigger batches gain nothing)
    MAX_BATCH = 32
    #: fewest jobs worth a batch (unless a result is needed now)
    MIN_BATCH = 3

    def __init__(self, learners: Sequence[Any], size: int) -> None:
        self.size = size  # parameters per model
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        # two areas of batch slots in shared memory (one trains while the next is filled); params
        # go in, results come back in place; the pipe carries only small msgpack headers
        self._shm = mmap.mmap(-1, 2 * self.MAX_BATCH * size * PARAM_DTYPE.itemsize)
        self._areas = np.frombuffer(self._shm, PARAM_DTYPE).reshape(2, self.MAX_BATCH, size)
        # fork: the child inherits the learners as they are now; nothing is pickled
        self._proc = ctx.Process(
            target=_serve, args=(child, self._conn, self._shm, self.MAX_BATCH, size, learners),
            name="p2pfed-trainer", daemon=True,
        )
        self._proc.start()
        child.close()
        self._unsent: list[tuple[int, int, np.ndarray, int]] = []
        self._unsent_keys: set[int] = set()
        self._in_flight: deque[tuple[int, list[int]]] = deque()  # (area, keys), oldest first; at most 2
        self._next_area = 0
        self._open = 0  # jobs submitted and neither returned nor discarded
        self._done: dict[int, tuple[np.ndarray, TrainStats]] = {}
        self._discarded: set[int] = set()
        self._restores: list[list[int]] = []
        self._closed = False

    # --- Trainer -----------------------------------------------------------------------------------

    def submit(self, key: int, learner: int, params: np.ndarray, steps: int) -> None:
        self._unsent.append((key, learner, params, steps))
        self._unsent_keys.add(key)
        self._open += 1
        # batches of about a third of the trainings in flight: big enough to train efficiently,
        # small enough that a batch is usually finished before its first result is needed
        # (measured at 2, 5 and 10 SGD steps per training: a half waits longer, a quarter trains slower)
        if len(self._unsent) >= min(self.MAX_BATCH, max(self.MIN_BATCH, self._open // 3)):
            self._flush()

    def result(self, key: int) -> tuple[np.ndarray, TrainStats]:
        if key in self._unsent_keys:
            self._flush()
        while key not in self._done and self._in_flight:
            self._receive()
        try:
            out = self._done.pop(key)
        except KeyError:
            raise KeyError(f"training job {key} was never submitted (or was discarded)") from None
        self._open -= 1
        return out

    def discard(self, key: int) -> None:
        if key in self._unsent_keys:
            self._unsent_keys.discard(key)
            self._unsent = [job for job in self._unsent if job[0] != key]
        elif self._done.pop(key, None) is None:
            self._discarded.add(key)  # in a batch being trained: drop its result on arrival
        self._open -= 1

    def restore(self, learner: int, samples_drawn: int) -> None:
        # travels with the next batch and is applied before its jobs: the node was down, so none
        # of its jobs is unsent (they were discarded) and those in flight train first
        self._restores.append([learner, int(samples_drawn)])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.send_bytes(msgpack.packb({"op": "stop"}))
        except (BrokenPipeError, OSError):
            pass
        self._conn.close()
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._areas = None  # type: ignore[assignment]
        try:
            self._shm.close()
        except BufferError:  # pragma: no cover - results are copies; nothing should view it
            pass

    # --- internals ---------------------------------------------------------------------------------

    def _flush(self) -> None:
        if not self._unsent:
            return
        if len(self._in_flight) == 2:
            self._receive()  # frees the older area
        jobs, area = self._unsent, self._next_area
        self._unsent, self._unsent_keys, self._next_area = [], set(), 1 - area
        slots = self._areas[area]
        for k, (_, _, params, _) in enumerate(jobs):
            slots[k] = params
        header = {"op": "train", "area": area, "restore": self._restores, "jobs": [[lrn, st] for _, lrn, _, st in jobs]}
        self._restores = []
        self._send(header)
        self._in_flight.append((area, [key for key, _, _, _ in jobs]))

    def _send(self, header: dict[str, Any]) -> None:
        try:
            self._conn.send_bytes(msgpack.packb(header, use_bin_type=True))
        except (BrokenPipeError, OSError) as e:
            raise WorkerError(f"the training process is gone ({e}); see the log above for its error") from None

    def _receive(self) -> None:
        try:
            data = self._conn.recv_bytes()
        except (EOFError, OSError):
            code = self._proc.exitcode
            raise WorkerError(f"the training process died (exit code {code})") from None
        header = msgpack.unpackb(data, raw=False)
        if header.get("op") == "error":
            raise WorkerError(f"training failed in the training process:\n{header.get('traceback', '')}")
        area, keys = self._in_flight.popleft()
        stats = header["stats"]
        if header.get("area") != area or len(stats) != len(keys):
            raise WorkerError("the training process answered out of order")
        for key, vec, (steps, samples, loss) in zip(keys, self._areas[area], stats):
            if key in self._discarded:
                self._discarded.discard(key)
                continue
            self._done[key] = (vec.copy(), TrainStats(steps=steps, samples=samples, loss=loss))


def _serve(
    conn: Connection, parent_end: Connection, shm: mmap.mmap, max_batch: int, size: int, learners: Sequence[Any]
) -> None:
    """The training process: train each batch found in shared memory, in order, until "stop" or EOF."""
    parent_end.close()  # else the pipe never reports the parent gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes us
    areas = np.frombuffer(shm, PARAM_DTYPE).reshape(2, max_batch, size)
    try:
        while True:
            try:
                header = msgpack.unpackb(conn.recv_bytes(), raw=False)
            except (EOFError, OSError):
                return
            if header.get("op") == "stop":
                return
            for i, drawn in header["restore"]:
                _restore(learners[i], drawn)
            slots = areas[header["area"]]
            jobs = header["jobs"]
            results = many.train_many([(learners[i], slots[k], steps) for k, (i, steps) in enumerate(jobs)])
            for k, (vec, _) in enumerate(results):
                slots[k] = vec
            stats = [[r[1].steps, r[1].samples, float(r[1].loss)] for r in results]
            conn.send_bytes(msgpack.packb({"op": "done", "area": header["area"], "stats": stats}))
    except BaseException:  # report anything to the parent rather than die silently
        try:
            conn.send_bytes(msgpack.packb({"op": "error", "traceback": traceback.format_exc()}))
        except (BrokenPipeError, OSError):
            pass
    finally:
        conn.close()
        os._exit(0)  # skip the parent's atexit handlers and buffered output inherited by fork
