"""Byte layout of an envelope: versioned prefix, msgpack header, body fields and float32 payload.

An envelope is three ZeroMQ frames:

    head = MAGIC "P2PF" | version u8 | kind u8 | msgpack header  (signed, not encrypted)
    body = NaCl Box ciphertext of: u32 fields_len | msgpack fields | payload bytes
    sig  = Ed25519 signature (64 bytes), see p2pfed.wire.crypto.signed_bytes

The header carries only what routing and replay protection need before decryption (sender,
recipient, seq, sent_at, schema, nonce); gossip fields (acks, weights, model ids) travel inside
the encrypted body so an eavesdropper learns as little as possible.  Everything here is pure
parsing: no crypto, no I/O, and every malformed input raises `Rejected` with a reason.
"""

from __future__ import annotations

import enum
import math
import struct
from typing import NamedTuple

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


class Header(NamedTuple):
    """The cleartext, signed header of an envelope (immutable; a NamedTuple because one is built per message)."""

    sender: str
    recipient: str
    seq: int
    sent_at: float
    schema: str
    nonce: bytes


class Fields(NamedTuple):
    """The encrypted gossip fields of a message (which ones are used depends on the kind; immutable)."""

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


_KIND_OF_BYTE = {int(k): k for k in Kind}
_HEADER_KEYSET = frozenset(_HEADER_KEYS)
_FIELD_KEYSETS = {k: frozenset(v) for k, v in _FIELD_KEYS.items()}
#: the non-negative integer fields of each kind
_INT_KEYS = {k: tuple(f for f in v if f not in ("weight", "dtype")) for k, v in _FIELD_KEYS.items()}
_PAYLOAD_KINDS = frozenset((Kind.PUSH, Kind.REPLY, Kind.MODEL))
_PREFIXES = {k: MAGIC + bytes((VERSION, int(k))) for k in Kind}


def has_payload(kind: Kind) -> bool:
    return kind in _PAYLOAD_KINDS


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
    return _PREFIXES[kind] + packed


def decode_head(head: bytes) -> tuple[Kind, Header]:
    """Parse and type-check a head frame (size limits are checked by the caller)."""
    if len(head) < PREFIX_LEN or head[:4] != MAGIC:
        raise Rejected(Reason.BAD_PREFIX)
    if head[4] != VERSION:
        raise Rejected(Reason.BAD_VERSION, f"version {head[4]}, this node speaks {VERSION}")
    kind = _KIND_OF_BYTE.get(head[5])
    if kind is None:
        raise Rejected(Reason.BAD_KIND, f"kind {head[5]}")
    raw = _unpack_map(head[PREFIX_LEN:], Reason.BAD_HEADER)
    if raw.keys() != _HEADER_KEYSET:
        raise Rejected(Reason.BAD_HEADER, f"keys {sorted(map(str, raw))}")
    sender, recipient, seq, sent_at = raw["sender"], raw["recipient"], raw["seq"], raw["sent_at"]
    schema, nonce = raw["schema"], raw["nonce"]
    # msgpack yields exactly these types (never a subclass; `type(True) is bool`, not int)
    if not (
        type(sender) is str and type(recipient) is str and type(seq) is int and type(sent_at) is float
        and type(schema) is str and type(nonce) is bytes
    ):
        for key, tp in _HEADER_KEYS.items():
            if type(raw[key]) is not tp:
                raise Rejected(Reason.BAD_HEADER, f"{key} has type {type(raw[key]).__name__}")
    if not 0 < seq <= _MAX_INT or not math.isfinite(sent_at) or len(nonce) != NONCE_LEN:
        raise Rejected(Reason.BAD_HEADER, "seq, sent_at or nonce out of range")
    return kind, Header(sender, recipient, seq, sent_at, schema, nonce)


# --- body --------------------------------------------------------------------------------------


def encode_body(kind: Kind, fields: Fields, payload: np.ndarray | None = None, prefix: bytes = b"") -> bytes:
    """Plaintext of a body: length-prefixed msgpack fields, then the raw float32 payload.

    `prefix` is prepended in the same copy (the simulator's fast envelope puts its stand-in MAC there).
    """
    if kind in _PAYLOAD_KINDS:
        if payload is None:
            raise ValueError(f"{kind.name} needs a payload")
        vec = payload
        if not (isinstance(vec, np.ndarray) and vec.dtype == PARAM_DTYPE and vec.flags.c_contiguous):
            vec = np.ascontiguousarray(payload, dtype=PARAM_DTYPE)
        d: dict[str, object] = {
            "ack": fields.ack, "base": fields.base, "weight": float(fields.weight), "age": fields.age,
            "dtype": _PARAM_DTYPE_STR, "n": int(vec.size),
        }
        if kind is Kind.REPLY:
            d["re"] = fields.re
        elif kind is Kind.MODEL:
            d["round"] = fields.round
        packed = msgpack.packb(d, use_bin_type=True)
        return b"".join((prefix, _U32.pack(len(packed)), packed, memoryview(vec).cast("B")))
    packed = msgpack.packb({"ack": fields.ack}, use_bin_type=True)
    return b"".join((prefix, _U32.pack(len(packed)), packed))


def decode_body(kind: Kind, plaintext: bytes | memoryview, manifest: Manifest) -> tuple[Fields, np.ndarray | None]:
    """Parse a decrypted body; check fields, then payload dtype, length and finiteness."""
    if len(plaintext) < 4:
        raise Rejected(Reason.BAD_BODY, "truncated")
    (n_fields,) = _U32.unpack_from(plaintext)
    if n_fields > len(plaintext) - 4 or n_fields > 4096:
        raise Rejected(Reason.BAD_BODY, "field length out of range")
    raw = _unpack_map(plaintext[4 : 4 + n_fields], Reason.BAD_BODY)
    if raw.keys() != _FIELD_KEYSETS[kind]:
        raise Rejected(Reason.BAD_BODY, f"fields {sorted(map(str, raw))} for {kind.name}")
    for key in _INT_KEYS[kind]:
        v = raw[key]
        if type(v) is not int or not 0 <= v <= _MAX_INT:  # msgpack ints are exactly int (bool is not)
            raise Rejected(Reason.BAD_BODY, f"{key} is not a non-negative integer")
    if kind not in _PAYLOAD_KINDS:
        if len(plaintext) != 4 + n_fields:
            raise Rejected(Reason.BAD_BODY, "unexpected payload")
        return Fields(raw["ack"]), None
    weight = raw["weight"]
    if not (type(weight) is float or type(weight) is int) or not (math.isfinite(weight) and 0 < weight <= 1e12):
        raise Rejected(Reason.BAD_BODY, "weight must be a positive finite number")
    if raw["dtype"] != manifest.dtype:
        raise Rejected(Reason.BAD_DTYPE, f"payload dtype {raw['dtype']!r}, expected {manifest.dtype!r}")
    data = memoryview(plaintext)[4 + n_fields :]
    if raw["n"] != manifest.size or len(data) != manifest.nbytes:
        raise Rejected(
            Reason.BAD_SHAPE,
            f"payload has {raw['n']} values / {len(data)} bytes, the model has {manifest.size}",
        )
    vec = np.frombuffer(data, dtype=manifest.dtype)
    if not np.isfinite(vec).all():
        raise Rejected(Reason.NON_FINITE, "payload contains NaN or Inf")
    fields = Fields(raw["ack"], raw["base"], float(weight), raw["age"], raw.get("re", 0), raw.get("round", 0))
    return fields, vec


_PARAM_DTYPE_STR = PARAM_DTYPE.str


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
