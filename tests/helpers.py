"""Shared builders for tests: a small federation (real keys and wires), forged messages, a network of cores."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import typer

from p2pfed.config import WireConfig
from p2pfed.gossip.algorithms import ProtocolCore
from p2pfed.gossip.core import Send, Train
from p2pfed.types import LocalData, Split, TrainStats
from p2pfed.wire.codec import Kind
from p2pfed.wire.crypto import Identity, Keyring
from p2pfed.wire.sequence import ReplayGuard, SequenceCounter
from p2pfed.types import Manifest
from p2pfed.wire.envelope import Wire

MANIFEST = Manifest(names=("w", "b"), shapes=((4, 3), (3,)), arch="test-linear-4x3")


@dataclass
class Federation:
    ids: list[str]
    identities: dict[str, Identity]
    manifest: Manifest

    @property
    def public_keys(self) -> dict[str, bytes]:
        return {i: ident.public_key for i, ident in self.identities.items()}

    def wire(self, node_id: str, cfg: WireConfig = WireConfig(), seq_start: int = 1) -> Wire:
        keyring = Keyring(self.identities[node_id], self.public_keys)
        return Wire(node_id, keyring, self.manifest, SequenceCounter(seq_start), ReplayGuard(cfg.replay_window), cfg)


def federation(n: int = 3, manifest: Manifest = MANIFEST, seed: int = 0) -> Federation:
    ids = [f"n{i}" for i in range(n)]
    rng = np.random.default_rng(seed)
    identities = {i: Identity.from_seed(rng.bytes(32)) for i in ids}
    return Federation(ids, identities, manifest)


def vector(manifest: Manifest = MANIFEST, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(manifest.size).astype("<f4")


def forge(
    fed: Federation,
    *,
    signer: str = "n0",
    sender: str | None = None,
    recipient: str = "n1",
    encrypt_to: str | None = None,
    kind=None,
    seq: int = 10**15,
    fields=None,
    payload: np.ndarray | None = None,
    plaintext: bytes | None = None,
    schema: str | None = None,
    signer_identity: Identity | None = None,
) -> list[bytes]:
    """Hand-build an envelope with every knob an attacker controls (real crypto throughout).

    `signer` (a member) or `signer_identity` (anyone) signs and encrypts; `sender` is the claimed
    sender in the header; `encrypt_to` is whose key the body is encrypted for.
    """
    from p2pfed.wire import codec
    from p2pfed.wire.codec import Fields, Header, Kind

    kind = Kind.PUSH if kind is None else kind
    ident = signer_identity or fed.identities[signer]
    keys = dict(fed.public_keys)
    keyring = Keyring(ident, keys)
    if plaintext is None:
        if payload is None and codec.has_payload(kind):
            payload = vector(fed.manifest)
        plaintext = codec.encode_body(kind, fields or Fields(weight=1.0), payload)
    nonce, body = keyring.encrypt(encrypt_to or recipient, plaintext)
    header = Header(sender or signer, recipient, seq, 0.0, schema or fed.manifest.schema, nonce)
    head = codec.encode_head(kind, header)
    return [head, body, keyring.sign(head, body)]


class CoreNet:
    """Routes actions between cores with a fixed latency and optional random loss.

    `down` nodes neither send, receive nor run timers (offline, state kept).  Training is
    instantaneous: `train(params)` (default: no change) is fed straight back to `on_trained`.
    Every delivered or dropped Send is logged in `log` as (time, src, dst, kind, frames).
    """

    def __init__(
        self,
        cores: dict[str, ProtocolCore],
        latency: float = 0.01,
        loss: float = 0.0,
        seed: int = 0,
        train: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.cores = cores
        self.latency = latency
        self.loss = loss
        self.rng = random.Random(seed)
        self.train = train
        self.now = 0.0
        self.queue: list[tuple[float, int, str, list[bytes]]] = []
        self.n = 0
        self.down: set[str] = set()
        self.log: list[tuple[float, str, str, Kind, list[bytes]]] = []
        for c in cores.values():
            self.apply(c, c.start(0.0))

    def apply(self, core: ProtocolCore, actions) -> None:
        for a in actions:
            if isinstance(a, Send):
                if core.node_id in self.down:
                    continue
                self.log.append((self.now, core.node_id, a.peer, Kind(a.frames[0][5]), a.frames))
                if self.rng.random() < self.loss:
                    continue
                self.n += 1
                heapq.heappush(self.queue, (self.now + self.latency, self.n, a.peer, a.frames))
            elif isinstance(a, Train):
                new = self.train(a.params) if self.train else a.params.copy()
                self.apply(core, core.on_trained(self.now, a.params, new, TrainStats(a.steps, 0, 0.0)))

    def run(self, until: float) -> None:
        while True:
            t_msg = self.queue[0][0] if self.queue else float("inf")
            live = [c for c in self.cores.values() if c.node_id not in self.down]
            t_timer = min((c.next_deadline() for c in live), default=float("inf"))
            assert t_timer > float("-inf"), "next_deadline must be a real time (overdue is fine)"
            t_timer = max(t_timer, self.now)  # overdue (a node back from being down): now
            t = min(t_msg, t_timer)
            if t > until:
                self.now = until
                return
            self.now = t
            if t_msg <= t_timer:
                _, _, dst, frames = heapq.heappop(self.queue)
                if dst not in self.down and dst in self.cores:
                    self.apply(self.cores[dst], self.cores[dst].on_message(t, frames))
            else:
                for c in live:
                    if c.next_deadline() <= t:
                        self.apply(c, c.on_timer(t))

    def drain(self) -> None:
        """Deliver everything in flight (and what it triggers), with no timers: a quiescent network."""
        while self.queue:
            t, _, dst, frames = heapq.heappop(self.queue)
            self.now = max(self.now, t)
            if dst not in self.down and dst in self.cores:
                self.apply(self.cores[dst], self.cores[dst].on_message(self.now, frames))

    def models(self, kind: Kind = Kind.MODEL) -> list[tuple[float, str, str]]:
        return [(t, s, d) for t, s, d, k, _ in self.log if k is kind]


def blobs(
    n: int = 400,
    d: int = 24,
    classes: int = 4,
    seed: int = 0,
    spread: float = 4.0,
    shape: tuple[int, ...] = (),
) -> LocalData:
    """Well-separated Gaussian blobs (train and test halves), a problem an MLP solves almost perfectly.

    `shape` reshapes each sample (e.g. (3, 8)).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d)) * spread
    y = rng.integers(0, classes, size=2 * n)
    X = (centres[y] + rng.normal(size=(2 * n, d))).astype(np.float32)
    if shape:
        X = X.reshape(2 * n, *shape)
    return LocalData(Split(X[:n], y[:n].astype(np.int64)), Split(X[n:], y[n:].astype(np.int64)), classes)


def cli_app(name: str, command: Callable[..., Any]) -> typer.Typer:
    """A typer app with the one command `name` (as `p2pfed NAME`), for CliRunner tests of a command module."""
    app = typer.Typer()
    app.command(name)(command)

    @app.callback()
    def _root() -> None:
        """p2pfed."""

    return app
