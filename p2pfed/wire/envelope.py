"""Seal outgoing messages and open incoming ones through the full, ordered receive pipeline.

Receive pipeline, cheapest check first (design.md section 5): frame count and sizes -> prefix and
version -> header parse -> sender on the roster and recipient is me -> schema -> sequence number
not replayed -> signature (constant cost) -> decrypt (authenticates the body) -> body fields ->
payload dtype/shape/finite.  The replay mark is recorded only after everything passed, so forged
messages cannot burn sequence numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from p2pfed.wire import codec
from p2pfed.wire.codec import Fields, Header, Kind
from p2pfed.config import WireConfig
from p2pfed.wire.crypto import BOX_OVERHEAD, SIGNATURE_BYTES, CryptoError, Keyring
from p2pfed.errors import Reason, Rejected
from p2pfed.wire.sequence import ReplayGuard, SequenceCounter
from p2pfed.types import Manifest

#: Body bytes on top of the payload: length prefix, msgpack fields, Box MAC.
BODY_OVERHEAD = 4 + 256 + 16


class Message(NamedTuple):
    """An authenticated, decrypted, checked incoming message (immutable)."""

    kind: Kind
    sender: str
    seq: int
    sent_at: float
    fields: Fields
    payload: np.ndarray | None  # read-only float32 vector (delta or keyframe) or None
    nbytes: int  # size on the wire


class Wire:
    """A node's envelope codec: signs and encrypts what it sends, verifies what it receives."""

    def __init__(
        self,
        node_id: str,
        keyring: Keyring,
        manifest: Manifest,
        seq: SequenceCounter,
        replay: ReplayGuard,
        cfg: WireConfig = WireConfig(),
    ) -> None:
        self.node_id = node_id
        self.keyring = keyring
        self.manifest = manifest
        self.schema = manifest.schema
        self.seq = seq
        self.replay = replay
        self.max_head = cfg.max_head_bytes
        self.max_body = cfg.max_body_bytes or manifest.nbytes + BODY_OVERHEAD

    def seal(
        self,
        kind: Kind,
        recipient: str,
        fields: Fields,
        payload: np.ndarray | None,
        now: float,
    ) -> tuple[int, list[bytes]]:
        """(seq, frames) of a signed message to `recipient` with an encrypted body."""
        plaintext = codec.encode_body(kind, fields, payload)
        nonce, body = self.keyring.encrypt(recipient, plaintext)
        seq = self.seq.next()
        header = Header(self.node_id, recipient, seq, now, self.schema, nonce)
        head = codec.encode_head(kind, header)
        return seq, [head, body, self.keyring.sign(head, body)]

    def open(self, frames: Sequence[bytes]) -> Message:
        """Run the receive pipeline on raw frames; raise `Rejected` at the first failed check."""
        kind, h, head, body, sig = self._check_envelope(frames)
        body_b, head_b = bytes(body), bytes(head)
        try:
            self.keyring.verify(h.sender, head_b, body_b, bytes(sig))
        except CryptoError:
            raise Rejected(Reason.BAD_SIGNATURE, f"from {h.sender}") from None
        try:
            plaintext = self.keyring.decrypt(h.sender, h.nonce, body_b)
        except CryptoError:
            raise Rejected(Reason.DECRYPT_FAILED, f"from {h.sender}") from None
        return self._accept(kind, h, plaintext, len(head) + len(body) + len(sig))

    def _check_envelope(self, frames: Sequence[bytes]) -> tuple[Kind, Header, bytes, bytes, bytes]:
        """The checks before any cryptography: frames, sizes, header, roster, recipient, schema, replay."""
        if len(frames) != codec.FRAME_COUNT:
            raise Rejected(Reason.BAD_FRAMES, f"{len(frames)} frames, expected {codec.FRAME_COUNT}")
        head, body, sig = frames
        if len(head) > self.max_head or len(body) > self.max_body:
            raise Rejected(Reason.OVERSIZED, f"head {len(head)} / body {len(body)} bytes")
        if len(sig) != SIGNATURE_BYTES:
            raise Rejected(Reason.BAD_FRAMES, f"signature frame of {len(sig)} bytes")
        if len(body) < BOX_OVERHEAD:
            raise Rejected(Reason.BAD_FRAMES, f"body of {len(body)} bytes is shorter than a Box MAC")
        kind, h = codec.decode_head(bytes(head))
        if h.sender not in self.keyring or h.sender == self.node_id:
            raise Rejected(Reason.UNKNOWN_SENDER, h.sender)
        if h.recipient != self.node_id:
            raise Rejected(Reason.WRONG_RECIPIENT, f"addressed to {h.recipient}")
        if h.schema != self.schema:
            raise Rejected(Reason.SCHEMA_MISMATCH, f"{h.sender} has model schema {h.schema}, ours is {self.schema}")
        if not self.replay.check(h.sender, h.seq):
            raise Rejected(Reason.REPLAY, f"seq {h.seq} from {h.sender}")
        return kind, h, head, body, sig

    def _accept(self, kind: Kind, h: Header, plaintext: bytes | memoryview, nbytes: int) -> Message:
        fields, payload = codec.decode_body(kind, plaintext, self.manifest)
        self.replay.commit(h.sender, h.seq)
        return Message(kind, h.sender, h.seq, h.sent_at, fields, payload, nbytes)


class PlainWire(Wire):
    """The simulator's documented `fast` envelope: the same frames, sizes and checks, no cryptography.

    Bodies are left in clear behind a zero-filled stand-in for the Box MAC and the signature frame
    is 64 zero bytes, so message sizes (and the bandwidth they cost) are exactly those of `Wire`;
    every non-cryptographic check of the receive pipeline still runs.  Never use it on a network:
    it authenticates nothing.  `keyring` only needs to answer `in` for roster membership.
    """

    _MAC = bytes(BOX_OVERHEAD)
    _SIG = bytes(SIGNATURE_BYTES)
    _NONCE = bytes(codec.NONCE_LEN)

    def seal(
        self, kind: Kind, recipient: str, fields: Fields, payload: np.ndarray | None, now: float
    ) -> tuple[int, list[bytes]]:
        body = codec.encode_body(kind, fields, payload, prefix=self._MAC)
        seq = self.seq.next()
        header = Header(self.node_id, recipient, seq, now, self.schema, self._NONCE)
        return seq, [codec.encode_head(kind, header), body, self._SIG]

    def open(self, frames: Sequence[bytes]) -> Message:
        kind, h, head, body, sig = self._check_envelope(frames)
        # a read-only view, no copy: the payload array decoded from it shares the frame's bytes
        return self._accept(kind, h, memoryview(body)[BOX_OVERHEAD:], len(head) + len(body) + len(sig))
