"""Run a federation of real node processes on this machine: run folder, start/kill/restart, stop.

`LocalFederation.prepare()` writes a self-contained run folder (keys with mode 0600, roster,
one node config per member); `start`, `kill` and `stop_all` manage the real `p2pfed node run`
processes; `snapshot()` reads their metrics.  The CLI's `p2pfed launch` and the end-to-end
tests are both built on this class.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli_w

from p2pfed.gossip import topology
from p2pfed.config import (
    FederationConfig,
    Member,
    NodeConfig,
    Roster,
    apply_override,
    build,
    load_node_config,
    roster_to_toml,
)
from p2pfed.wire.crypto import Identity, write_key_file
from p2pfed.data import list_subjects
from p2pfed.errors import ConfigError, P2PFedError
from p2pfed.node.metrics import read_jsonl

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchSpec:
    """What to launch: how many nodes, on which graph, with which data, for how long."""

    nodes: int = 8
    topology: str = "k-regular:k=4"
    duration: float = 60.0  # seconds of gossip after every node is up (0 = until Ctrl-C)
    seed: int = 0  # data, topology and model-init seed of the whole run
    data: str = ""  # "" = synthetic; else an .npz with X, y, subject (one node per subject)
    eval_data: str = ""  # .npz of held-out people (npz data only)
    host: str = "127.0.0.1"
    base_port: int = 0  # 0 = pick free ports
    overrides: tuple[str, ...] = ()  # `--set a.b=c` applied to every node config
    out: str = ""  # run folder; default runs/<timestamp>


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """`n` distinct ports that are free right now (held open together so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Proc:
    node_id: str
    config: Path
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class LocalFederation:
    """A run folder plus the node processes started from it."""

    spec: LaunchSpec
    run_dir: Path
    ids: list[str] = field(default_factory=list)
    procs: dict[str, Proc] = field(default_factory=dict)
    subjects: list[int] = field(default_factory=list)

    # --- preparing the run folder ------------------------------------------------------------

    @classmethod
    def prepare(cls, spec: LaunchSpec) -> LocalFederation:
        run_dir = Path(spec.out) if spec.out else Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ConfigError(f"run folder {run_dir} already exists and is not empty; pick another --out")
        subjects: list[int] = []
        n = spec.nodes
        if spec.data:
            subjects = list(list_subjects(spec.data))
            if n <= 0 or n > len(subjects):
                n = len(subjects)
            subjects = subjects[:n]
        if n < 2:
            raise ConfigError("a federation needs at least 2 nodes")
        ids = [f"n{i}" for i in range(n)]
        graph = topology.build_graph(spec.topology, ids, seed=spec.seed)  # fails early, clearly
        fed = cls(spec, run_dir, ids, {}, subjects)
        docs = {}
        for i, node_id in enumerate(ids):  # validate every config before writing anything
            doc = fed._node_doc(i, node_id)
            for item in spec.overrides:
                apply_override(doc, item)
            build(NodeConfig, doc, source=f"node config of {node_id}")
            docs[node_id] = doc
        for d in ("keys", "nodes", "state", "logs"):
            (run_dir / d).mkdir(parents=True, exist_ok=True)
        ports = [spec.base_port + i for i in range(n)] if spec.base_port else free_ports(n, spec.host)
        members = []
        for i, node_id in enumerate(ids):
            ident = Identity.generate()
            write_key_file(run_dir / "keys" / f"{node_id}.key", ident, node_id)
            members.append(Member(node_id, ident.public_key_b64, f"tcp://{spec.host}:{ports[i]}"))
        roster = Roster(
            members=tuple(members),
            federation=FederationConfig(name=run_dir.name, topology=spec.topology, topology_seed=spec.seed),
        )
        (run_dir / "roster.toml").write_text(
            f"# Federation roster: only these members are talked to or listened to.\n{tomli_w.dumps(roster_to_toml(roster))}"
        )
        (run_dir / "topology.edgelist").write_text(topology.format_edgelist(graph))
        for node_id, doc in docs.items():
            path = run_dir / "nodes" / f"{node_id}.toml"
            path.write_text(tomli_w.dumps(doc))
            fed.procs[node_id] = Proc(node_id, path, run_dir / "logs" / f"{node_id}.log")
        return fed

    def _node_doc(self, i: int, node_id: str) -> dict[str, Any]:
        s = self.spec
        data: dict[str, Any] = {"seed": s.seed}
        if s.data:
            data.update(source="npz", path=str(Path(s.data).resolve()), users=[self.subjects[i]], eval_users=0)
            if s.eval_data:
                data["eval_path"] = str(Path(s.eval_data).resolve())
        else:
            data.update(source="synthetic", users=[i])
        return {
            "node": {
                "id": node_id,
                "key": f"../keys/{node_id}.key",
                "roster": "../roster.toml",
                "state_dir": f"../state/{node_id}",
            },
            "model": {"init_seed": s.seed},
            "data": data,
            "runtime": {"metrics_interval": 1.0, "parent_pid": os.getpid()},
        }

    # --- processes ------------------------------------------------------------------------

    def start(self, node_id: str) -> None:
        p = self.procs[node_id]
        if p.running:
            raise RuntimeError(f"{node_id} is already running")
        with p.log_path.open("ab") as logf:
            p.popen = subprocess.Popen(
                [sys.executable, "-m", "p2pfed", "node", "run", "--config", str(p.config)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the launcher, which stops nodes in order
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def start_all(self) -> None:
        for node_id in self.ids:
            self.start(node_id)

    def kill(self, node_id: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs[node_id]
        if p.running:
            assert p.popen is not None
            p.popen.send_signal(sig)
            if sig == signal.SIGKILL:
                p.popen.wait()

    def stop_all(self, timeout: float = 20.0) -> dict[str, int | None]:
        """SIGTERM every node, wait for clean exits, SIGKILL whatever is left; exit codes."""
        for p in self.procs.values():
            if p.running:
                assert p.popen is not None
                p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs.values():
            if p.popen is None:
                continue
            try:
                p.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", p.node_id, timeout)
                p.popen.kill()
                p.popen.wait()
        return {i: (p.popen.returncode if p.popen else None) for i, p in self.procs.items()}

    def exited(self) -> dict[str, int]:
        """Nodes whose process has ended, with exit codes."""
        return {i: p.popen.returncode for i, p in self.procs.items() if p.popen is not None and p.popen.poll() is not None}

    # --- observation -----------------------------------------------------------------------

    def metrics_path(self, node_id: str) -> Path:
        return self.run_dir / "state" / node_id / "metrics.jsonl"

    def records(self, node_id: str) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics_path(node_id))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The latest metrics record of every node that has written one."""
        out = {}
        for i in self.ids:
            recs = self.records(i)
            if recs:
                out[i] = recs[-1]
        return out

    def log_tail(self, node_id: str, lines: int = 15) -> str:
        try:
            text = self.procs[node_id].log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until_up(self, timeout: float = 90.0, nodes: Sequence[str] | None = None) -> None:
        """Block until every node has written a metrics line; P2PFedError naming any that died."""
        want = set(nodes or self.ids)
        deadline = time.monotonic() + timeout
        while True:
            dead = {i: rc for i, rc in self.exited().items() if i in want}
            if dead:
                i, rc = next(iter(dead.items()))
                raise P2PFedError(f"node {i} exited with code {rc} while starting; its log says:\n{self.log_tail(i)}")
            up = {i for i in want if self.metrics_path(i).exists() and self.records(i)}
            if up == want:
                return
            if time.monotonic() > deadline:
                raise P2PFedError(f"nodes {sorted(want - up)} did not come up within {timeout:.0f}s")
            time.sleep(0.25)

    def node_config(self, node_id: str):
        return load_node_config(self.procs[node_id].config)

