"""The exception tree of p2pfed, and the reasons an incoming message can be rejected."""

from __future__ import annotations

import enum


class P2PFedError(Exception):
    """Base class of every error p2pfed raises on purpose."""


class ConfigError(P2PFedError):
    """A config, roster or spec file is missing, malformed or inconsistent."""


class KeyFileError(P2PFedError):
    """A key file is missing, malformed or has unsafe permissions."""


class DataError(P2PFedError):
    """A dataset is missing, malformed or inconsistent with what was asked for."""


class TopologyError(P2PFedError):
    """A topology spec is invalid or yields a graph that fails validation."""


class StateError(P2PFedError):
    """Persisted node state cannot be read or does not match this node."""


class TransportError(P2PFedError):
    """A transport could not be set up (e.g. the listen address is in use)."""


class Reason(str, enum.Enum):
    """Why an incoming message was rejected; every rejection is counted under one of these."""

    OVERSIZED = "oversized"  # a frame is larger than the configured limit
    BAD_FRAMES = "bad_frames"  # wrong number of frames
    BAD_PREFIX = "bad_prefix"  # magic bytes wrong
    BAD_VERSION = "bad_version"  # unsupported wire version
    BAD_KIND = "bad_kind"  # unknown message kind
    BAD_HEADER = "bad_header"  # header is not the msgpack map we expect
    UNKNOWN_SENDER = "unknown_sender"  # sender is not on the roster
    WRONG_RECIPIENT = "wrong_recipient"  # addressed to another node
    SCHEMA_MISMATCH = "schema_mismatch"  # model schema differs from ours
    REPLAY = "replay"  # sequence number already seen or too old
    BAD_SIGNATURE = "bad_signature"  # Ed25519 signature does not verify
    DECRYPT_FAILED = "decrypt_failed"  # NaCl Box authentication failed
    BAD_BODY = "bad_body"  # decrypted body is malformed
    BAD_DTYPE = "bad_dtype"  # payload dtype is not the manifest's
    BAD_SHAPE = "bad_shape"  # payload length is not the manifest's
    NON_FINITE = "non_finite"  # NaN or Inf in the payload or reconstructed model
    MISSING_REFERENCE = "missing_reference"  # delta against a reference we do not hold
    # valid messages the receiving algorithm cannot use (p2pfed.gossip.algorithms)
    WRONG_ALGORITHM = "wrong_algorithm"  # a message kind this node's algorithm never uses (mixed federation)
    STALE_ROUND = "stale_round"  # a synchronous round's model that arrived after the round was averaged
    FUTURE_ROUND = "future_round"  # a model for a round more than one ahead of ours (clock far off)
    NOT_NEIGHBOUR = "not_neighbour"  # a model from a member outside the static neighbourhood (D-PSGD)
    STALE_MESSAGE = "stale_message"  # push-sum: older than a message already applied on that link
    MASS_RESET = "mass_reset"  # push-sum: a sender's running sums went backwards (it lost its state)


class Rejected(P2PFedError):
    """An incoming message failed a check; carries the reason it is counted under."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
