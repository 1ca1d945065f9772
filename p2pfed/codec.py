"""Byte layout of an envelope: versioned prefix, msgpack header, body fields and float32 payload.

An envelope is three ZeroMQ frames:

    head = MAGIC "P2PF" | version u8 | kind u8 | msgpack header  (signed, not encrypted)
    body = NaCl Box ciphertext of: u32 fields_len | msgpack fields | payload bytes
    sig  = Ed25519 signature (64 bytes), see p2pfed.crypto.signed_bytes

The header carries only what routing and replay protection need before decryption (sender,
recipient, seq, sent_at, schema, nonce); gossip fields (acks, weights, model ids) travel inside
the encrypted body so an eavesdropper learns as little as possible.  Everything here is pure
parsing: no crypto, no I/O, and every malformed input raises `Rejected` with a reason.
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass

import msgpack
import numpy as np

from p2pfed.errors import Reason, Rejected
from p2pfed.types import PARAM_DTYPE, Manifest

MAGIC = b"P2PF"
VERSION = 1
PREFIX_LEN = len(MAGIC) + 2
FRAME_COUNT = 3
NONCE_LEN = 24
_U32 = struct.Struct(">I")
_MAX_INT = 2**63 - 1


class Kind(enum.IntEnum):
    """Message kinds of the gossip protocol."""

    HEARTBEAT = 1  # liveness + acknowledgements, no model
    PUSH = 2  # initiator's model (delta or keyframe); asks for a REPLY
    REPLY = 3  # responder's model, answering a PUSH
    MODEL = 4  # one-way model (gossip-age, D-PSGD, push-sum, Epidemic Learning); no reply expected


@dataclass(frozen=True)
class Header:
    """The cleartext, signed header of an envelope."""

    sender: str
    recipient: str
    seq: int
    sent_at: float
    schema: str
    nonce: bytes


@dataclass(frozen=True)
class Fields:
    """The encrypted gossip fields of a message (which ones are used depends on the kind)."""

    ack: int = 0  # seq of the newest model received from the recipient (0: none)
    base: int = 0  # seq of the reference the payload is a delta against (0: keyframe)
    weight: float = 1.0  # merge weight of the sender's model
    age: int = 0  # local training steps behind the sender's model
    re: int = 0  # REPLY only: seq of the PUSH being answered
    round: int = 0  # MODEL only: the synchronous round the model belongs to (0 when unused)


_HEADER_KEYS = {"sender": str, "recipient": str, "seq": int, "sent_at": float, "schema": str, "nonce": bytes}
_FIELD_KEYS = {
    Kind.HEARTBEAT: ("ack",),
    Kind.PUSH: ("ack", "base", "weight", "age", "dtype", "n"),
    Kind.REPLY: ("ack", "base", "weight", "age", "dtype", "n", "re"),
    Kind.MODEL: ("ack", "base", "weight", "age", "dtype", "n", "round"),
}


def has_payload(kind: Kind) -> bool:
    return kind in (Kind.PUSH, Kind.REPLY, Kind.MODEL)


# --- head --------------------------------------------------------------------------------------


def encode_head(kind: Kind, header: Header) -> bytes:
    packed = msgpack.packb(
        {
            "sender": header.sender,
            "recipient": header.recipient,
            "seq": header.seq,
            "sent_at": float(header.sent_at),
            "schema": header.schema,
            "nonce": header.nonce,
        },
        use_bin_type=True,
    )
    return MAGIC + bytes((VERSION, int(kind))) + packed


def decode_head(head: bytes) -> tuple[Kind, Header]:
    """Parse and type-check a head frame (size limits are checked by the caller)."""
    if len(head) < PREFIX_LEN or head[:4] != MAGIC:
        raise Rejected(Reason.BAD_PREFIX)
    if head[4] != VERSION:
        raise Rejected(Reason.BAD_VERSION, f"version {head[4]}, this node speaks {VERSION}")
    try:
        kind = Kind(head[5])
    except ValueError:
        raise Rejected(Reason.BAD_KIND, f"kind {head[5]}") from None
    raw = _unpack_map(head[PREFIX_LEN:], Reason.BAD_HEADER)
    if set(raw) != set(_HEADER_KEYS):
        raise Rejected(Reason.BAD_HEADER, f"keys {sorted(map(str, raw))}")
    for key, tp in _HEADER_KEYS.items():
        if not isinstance(raw[key], tp) or isinstance(raw[key], bool):
            raise Rejected(Reason.BAD_HEADER, f"{key} has type {type(raw[key]).__name__}")
    if not 0 < raw["seq"] <= _MAX_INT or not math.isfinite(raw["sent_at"]) or len(raw["nonce"]) != NONCE_LEN:
        raise Rejected(Reason.BAD_HEADER, "seq, sent_at or nonce out of range")
    return kind, Header(**raw)


# --- body --------------------------------------------------------------------------------------


def encode_body(kind: Kind, fields: Fields, payload: np.ndarray | None = None) -> bytes:
    """Plaintext of a body: length-prefixed msgpack fields, then the raw float32 payload."""
    d: dict[str, object] = {"ack": fields.ack}
    if has_payload(kind):
        if payload is None:
            raise ValueError(f"{kind.name} needs a payload")
        vec = np.ascontiguousarray(payload, dtype=PARAM_DTYPE)
        d.update(base=fields.base, weight=float(fields.weight), age=fields.age, dtype=PARAM_DTYPE.str, n=int(vec.size))
        if kind is Kind.REPLY:
            d["re"] = fields.re
        elif kind is Kind.MODEL:
            d["round"] = fields.round
        packed = msgpack.packb(d, use_bin_type=True)
        return b"".join((_U32.pack(len(packed)), packed, memoryview(vec).cast("B")))
    packed = msgpack.packb(d, use_bin_type=True)
    return _U32.pack(len(packed)) + packed


def decode_body(kind: Kind, plaintext: bytes, manifest: Manifest) -> tuple[Fields, np.ndarray | None]:
    """Parse a decrypted body; check fields, then payload dtype, length and finiteness."""
    if len(plaintext) < 4:
        raise Rejected(Reason.BAD_BODY, "truncated")
    (n_fields,) = _U32.unpack_from(plaintext)
    if n_fields > len(plaintext) - 4 or n_fields > 4096:
        raise Rejected(Reason.BAD_BODY, "field length out of range")
    raw = _unpack_map(plaintext[4 : 4 + n_fields], Reason.BAD_BODY)
    expected = _FIELD_KEYS[kind]
    if set(raw) != set(expected):
        raise Rejected(Reason.BAD_BODY, f"fields {sorted(map(str, raw))} for {kind.name}")
    for key in ("ack", "base", "age", "n", "re", "round"):
        if key in raw and (not isinstance(raw[key], int) or isinstance(raw[key], bool) or not 0 <= raw[key] <= _MAX_INT):
            raise Rejected(Reason.BAD_BODY, f"{key} is not a non-negative integer")
    if not has_payload(kind):
        if len(plaintext) != 4 + n_fields:
            raise Rejected(Reason.BAD_BODY, "unexpected payload")
        return Fields(ack=raw["ack"]), None
    weight = raw["weight"]
    if not isinstance(weight, float | int) or isinstance(weight, bool) or not (math.isfinite(weight) and 0 < weight <= 1e12):
        raise Rejected(Reason.BAD_BODY, "weight must be a positive finite number")
    if raw["dtype"] != manifest.dtype:
        raise Rejected(Reason.BAD_DTYPE, f"payload dtype {raw['dtype']!r}, expected {manifest.dtype!r}")
    data = memoryview(plaintext)[4 + n_fields :]
    itemsize = np.dtype(manifest.dtype).itemsize
    if raw["n"] != manifest.size or len(data) != manifest.size * itemsize:
        raise Rejected(
            Reason.BAD_SHAPE,
            f"payload has {raw['n']} values / {len(data)} bytes, the model has {manifest.size}",
        )
    vec = np.frombuffer(data, dtype=manifest.dtype)
    if not np.isfinite(vec).all():
        raise Rejected(Reason.NON_FINITE, "payload contains NaN or Inf")
    fields = Fields(
        ack=raw["ack"], base=raw["base"], weight=float(weight), age=raw["age"], re=raw.get("re", 0), round=raw.get("round", 0)
    )
    return fields, vec


def _unpack_map(data: bytes | memoryview, reason: Reason) -> dict:
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_str_len=256,
            max_bin_len=256,
            max_array_len=0,
            max_map_len=16,
            max_ext_len=0,
        )
    except Exception as e:  # msgpack raises several unrelated types on malformed input
        raise Rejected(reason, f"not msgpack: {type(e).__name__}") from None
    if not isinstance(obj, dict):
        raise Rejected(reason, "not a map")
    return obj
