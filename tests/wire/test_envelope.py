"""The receive pipeline: authentic messages open; every forgery is rejected with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import MANIFEST, federation, forge, vector
from p2pfed.wire.codec import Fields, Kind
from p2pfed.config import WireConfig
from p2pfed.wire.crypto import Identity
from p2pfed.errors import Reason, Rejected
from p2pfed.types import Manifest

FED = federation(3)


def rejected(wire, frames) -> Reason:
    with pytest.raises(Rejected) as e:
        wire.open(frames)
    return e.value.reason


def test_seal_open_round_trip():
    a, b = FED.wire("n0"), FED.wire("n1")
    x = vector()
    seq, frames = a.seal(Kind.PUSH, "n1", Fields(ack=0, base=0, weight=3.0, age=7), x, now=12.5)
    assert len(frames) == 3 and len(frames[2]) == 64
    assert x.tobytes() not in b"".join(frames)  # the model is encrypted
    msg = b.open(frames)
    assert (msg.kind, msg.sender, msg.seq, msg.sent_at) == (Kind.PUSH, "n0", seq, 12.5)
    assert msg.fields.weight == 3.0 and msg.fields.age == 7
    np.testing.assert_array_equal(msg.payload, x)
    assert msg.nbytes == sum(map(len, frames))


def test_replay_is_rejected_and_only_authentic_messages_burn_seqs():
    a, b = FED.wire("n0"), FED.wire("n1")
    _, frames = a.seal(Kind.HEARTBEAT, "n1", Fields(ack=0), None, 0.0)
    b.open(frames)
    assert rejected(b, frames) is Reason.REPLAY
    # a forged message with a huge seq must not advance the window
    forged = forge(FED, signer="n2", sender="n0", kind=Kind.HEARTBEAT, fields=Fields(), seq=2**62)
    assert rejected(b, forged) is Reason.BAD_SIGNATURE
    _, frames2 = a.seal(Kind.HEARTBEAT, "n1", Fields(ack=0), None, 0.0)
    b.open(frames2)  # still accepted


def test_each_forgery_has_its_reason():
    b = FED.wire("n1")
    outsider = Identity.generate()
    cases = {
        "another member's key": (forge(FED, signer="n2", sender="n0"), Reason.BAD_SIGNATURE),
        "not on roster": (forge(FED, signer_identity=outsider, sender="mallory"), Reason.UNKNOWN_SENDER),
        "outsider claims n0": (forge(FED, signer_identity=outsider, sender="n0"), Reason.BAD_SIGNATURE),
        "addressed to n2": (forge(FED, recipient="n2"), Reason.WRONG_RECIPIENT),
        "encrypted for n2": (forge(FED, encrypt_to="n2"), Reason.DECRYPT_FAILED),
        "claims to be me": (forge(FED, signer="n1", sender="n1"), Reason.UNKNOWN_SENDER),
        "other schema": (forge(FED, schema="0" * 16), Reason.SCHEMA_MISMATCH),
        "wrong dtype": (
            forge(FED, payload=None, plaintext=_plain({"dtype": "<f8"}, vector().astype("<f8").tobytes())),
            Reason.BAD_DTYPE,
        ),
        "wrong shape": (forge(FED, plaintext=_plain({"n": 5}, vector()[:5].tobytes())), Reason.BAD_SHAPE),
        "NaN": (forge(FED, payload=np.full(MANIFEST.size, np.nan, "<f4")), Reason.NON_FINITE),
        "Inf": (forge(FED, payload=np.full(MANIFEST.size, -np.inf, "<f4")), Reason.NON_FINITE),
    }
    for name, (frames, reason) in cases.items():
        assert rejected(b, frames) is reason, name


def _plain(over: dict, payload: bytes) -> bytes:
    import msgpack

    d = {"ack": 0, "base": 0, "weight": 1.0, "age": 0, "dtype": "<f4", "n": MANIFEST.size, **over}
    packed = msgpack.packb(d, use_bin_type=True)
    return len(packed).to_bytes(4, "big") + packed + payload


def test_frame_count_and_size_limits():
    b = FED.wire("n1", WireConfig(max_head_bytes=512))
    frames = forge(FED)
    assert rejected(b, frames[:2]) is Reason.BAD_FRAMES
    assert rejected(b, frames + [b"x"]) is Reason.BAD_FRAMES
    assert rejected(b, [frames[0], frames[1], frames[2][:-1]]) is Reason.BAD_FRAMES
    assert rejected(b, [frames[0], frames[1] + b"\0" * (MANIFEST.nbytes + 1000), frames[2]]) is Reason.OVERSIZED
    assert rejected(b, [frames[0] + b"\0" * 600, frames[1], frames[2]]) is Reason.OVERSIZED


def test_max_body_defaults_to_model_size():
    big = Manifest(("w",), ((1000,),), "x")
    fed = federation(2, manifest=big)
    w = fed.wire("n1")
    assert big.nbytes < w.max_body < big.nbytes + 1024


@given(st.data())
def test_any_flipped_byte_is_rejected(data):
    """Flip one bit anywhere in any frame: the message is rejected, and the genuine one still opens."""
    a, b = FED.wire("n0"), FED.wire("n1")
    kind = data.draw(st.sampled_from([Kind.HEARTBEAT, Kind.PUSH]))
    payload = vector() if kind is Kind.PUSH else None
    _, frames = a.seal(kind, "n1", Fields(weight=1.0), payload, 0.0)
    i = data.draw(st.integers(0, 2))
    pos = data.draw(st.integers(0, len(frames[i]) - 1))
    bit = data.draw(st.integers(0, 7))
    bad = list(frames)
    f = bytearray(bad[i])
    f[pos] ^= 1 << bit
    bad[i] = bytes(f)
    with pytest.raises(Rejected):
        b.open(bad)
    b.open(frames)


def test_bodies_cannot_be_spliced_or_altered_past_the_signed_tag():
    """The signature covers the head (with the nonce) and the body's MAC tag; decryption
    authenticates the rest of the body, so no part of a body can be swapped or changed."""
    a, b = FED.wire("n0"), FED.wire("n1")
    _, m1 = a.seal(Kind.PUSH, "n1", Fields(weight=1.0), vector(seed=1), 0.0)
    _, m2 = a.seal(Kind.PUSH, "n1", Fields(weight=1.0), vector(seed=2), 0.0)
    assert rejected(b, [m1[0], m2[1], m1[2]]) is Reason.BAD_SIGNATURE  # other body, other tag
    spliced = m1[1][:16] + m2[1][16:]  # keep the signed tag, swap the ciphertext
    assert rejected(b, [m1[0], spliced, m1[2]]) is Reason.DECRYPT_FAILED
    tail = bytearray(m1[1])
    tail[-1] ^= 0x80
    assert rejected(b, [m1[0], bytes(tail), m1[2]]) is Reason.DECRYPT_FAILED
    assert rejected(b, [m1[0], m1[1][:15], m1[2]]) is Reason.BAD_FRAMES
    b.open(m1)
    b.open(m2)


def test_signature_check_costs_the_same_for_any_body_size():
    """Forgeries are rejected before any per-byte work: verify time must not grow with the body."""
    import time

    from p2pfed.wire.crypto import signed_bytes

    small, big = b"x" * 100, b"x" * (8 << 20)
    assert len(signed_bytes(b"head", small)) == len(signed_bytes(b"head", big))
    t0 = time.perf_counter()
    for _ in range(200):
        signed_bytes(b"head", big)
    assert time.perf_counter() - t0 < 0.5  # 200 x 8 MiB would take seconds if hashed or copied
