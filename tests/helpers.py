"""Shared builders for tests: identities, keyrings and wires of a small federation (real crypto)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from p2pfed.config import WireConfig
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
