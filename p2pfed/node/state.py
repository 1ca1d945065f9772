"""A node's saved state and where it is kept: a folder on disk (deployed nodes) or memory (the simulator).

On disk the state is one `.npz` of plain float32 arrays plus a JSON document stored as bytes,
written atomically (temp file + fsync + rename) so kill -9 loses nothing, and read with
`allow_pickle=False`, so a tampered state file cannot execute code either.
"""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from p2pfed.errors import StateError

log = logging.getLogger(__name__)

STATE_FILE = "state.npz"
FORMAT = 1


@dataclass
class NodeState:
    """Everything a node needs to resume after a crash or restart."""

    node_id: str
    schema: str
    params: np.ndarray
    age: int = 0  # local training steps behind the model
    seq_reserved: int = 0  # see p2pfed.wire.sequence.SequenceCounter
    replay_marks: dict[str, int] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    samples_drawn: int = 0  # position in the learner's minibatch stream
    saved_at: float = 0.0
    started: int = 0  # how many times this node has started from this state


def save_state(state_dir: str | Path, state: NodeState) -> Path:
    """Atomically replace `<state_dir>/state.npz` with `state`."""
    d = Path(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "node_id": state.node_id,
        "schema": state.schema,
        "age": state.age,
        "seq_reserved": state.seq_reserved,
        "replay_marks": state.replay_marks,
        "counters": state.counters,
        "saved_at": state.saved_at,
        "started": state.started,
        "optimizer": sorted(state.optimizer),
        "samples_drawn": state.samples_drawn,
    }
    arrays: dict[str, np.ndarray] = {
        "params": np.ascontiguousarray(state.params, dtype="<f4"),
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    }
    for k, v in state.optimizer.items():
        arrays[f"opt__{k}"] = np.ascontiguousarray(v, dtype="<f4")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    target = d / STATE_FILE
    tmp = d / f".{STATE_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, buf.getbuffer())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return target


def load_state(state_dir: str | Path, node_id: str, schema: str) -> NodeState | None:
    """The persisted state, None if there is none; StateError if it belongs to something else."""
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            params = np.array(z["params"], dtype="<f4")
            optimizer = {k: np.array(z[f"opt__{k}"], dtype="<f4") for k in meta.get("optimizer", [])}
    except Exception as e:  # corrupt zip, missing arrays, bad JSON: all mean "unreadable"
        raise StateError(f"{path} is unreadable ({type(e).__name__}: {e}); move it away to start fresh") from None
    if meta.get("format") != FORMAT:
        raise StateError(f"{path} has state format {meta.get('format')}, expected {FORMAT}")
    if meta.get("node_id") != node_id:
        raise StateError(f"{path} belongs to node {meta.get('node_id')!r}, not {node_id!r}")
    if meta.get("schema") != schema:
        raise StateError(
            f"{path} holds a model with schema {meta.get('schema')}, but the configured model has "
            f"schema {schema}; the model config changed - move the state away to start fresh"
        )
    return NodeState(
        node_id=node_id,
        schema=schema,
        params=params,
        age=int(meta.get("age", 0)),
        seq_reserved=int(meta.get("seq_reserved", 0)),
        replay_marks={str(k): int(v) for k, v in meta.get("replay_marks", {}).items()},
        counters=dict(meta.get("counters", {})),
        optimizer=optimizer,
        samples_drawn=int(meta.get("samples_drawn", 0)),
        saved_at=float(meta.get("saved_at", 0.0)),
        started=int(meta.get("started", 0)),
    )


class StateStore(Protocol):
    """Where a node's state is kept between its incarnations (`p2pfed.node.lifecycle`)."""

    def load(self) -> NodeState | None:
        """The last saved state, None if there is none."""
        ...

    def save(self, state: NodeState) -> None: ...


class DiskStore:
    """`<state_dir>/state.npz`, replaced atomically on every save (a deployed node)."""

    def __init__(self, state_dir: str | Path, node_id: str, schema: str) -> None:
        self.dir = Path(state_dir)
        self.node_id = node_id
        self.schema = schema

    def load(self) -> NodeState | None:
        return load_state(self.dir, self.node_id, self.schema)

    def save(self, state: NodeState) -> None:
        save_state(self.dir, state)


class MemoryStore:
    """The last saved state, kept in memory (a simulated node: what survives its crash)."""

    def __init__(self) -> None:
        self.state: NodeState | None = None

    def load(self) -> NodeState | None:
        return self.state

    def save(self, state: NodeState) -> None:
        self.state = state
