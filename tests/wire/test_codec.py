"""Envelope byte layout: round trips, and every malformed input rejected with its reason."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import MANIFEST, vector
from p2pfed.wire import codec
from p2pfed.wire.codec import Fields, Header, Kind
from p2pfed.errors import Reason, Rejected

HEADER = Header("n0", "n1", 42, 1.5, MANIFEST.schema, b"\x01" * 24)


def reason_of(fn, *args) -> Reason:
    with pytest.raises(Rejected) as e:
        fn(*args)
    return e.value.reason


def test_head_round_trip():
    head = codec.encode_head(Kind.PUSH, HEADER)
    assert head.startswith(b"P2PF\x01\x02")
    assert codec.decode_head(head) == (Kind.PUSH, HEADER)


@pytest.mark.parametrize("kind", [Kind.PUSH, Kind.REPLY])
def test_model_body_round_trip(kind):
    x = vector()
    f = Fields(ack=3, base=2, weight=120.0, age=50, re=9 if kind is Kind.REPLY else 0)
    fields, payload = codec.decode_body(kind, codec.encode_body(kind, f, x), MANIFEST)
    assert fields == f
    np.testing.assert_array_equal(payload, x)


def test_heartbeat_body_round_trip():
    fields, payload = codec.decode_body(Kind.HEARTBEAT, codec.encode_body(Kind.HEARTBEAT, Fields(ack=7)), MANIFEST)
    assert fields.ack == 7 and payload is None


@pytest.mark.parametrize(
    "head, reason",
    [
        (b"", Reason.BAD_PREFIX),
        (b"XXXX\x01\x02", Reason.BAD_PREFIX),
        (b"P2PF\x09\x02" + b"\x80", Reason.BAD_VERSION),
        (b"P2PF\x01\x63" + b"\x80", Reason.BAD_KIND),
        (b"P2PF\x01\x02" + b"\xc1", Reason.BAD_HEADER),  # invalid msgpack byte
        (b"P2PF\x01\x02" + msgpack.packb([1, 2]), Reason.BAD_HEADER),
        (b"P2PF\x01\x02" + msgpack.packb({"sender": "x"}), Reason.BAD_HEADER),
    ],
)
def test_malformed_heads(head, reason):
    assert reason_of(codec.decode_head, head) is reason


@pytest.mark.parametrize(
    "field, value",
    [("seq", 0), ("seq", -1), ("seq", "1"), ("sent_at", float("nan")), ("nonce", b"short"), ("sender", 5), ("seq", True)],
)
def test_header_field_checks(field, value):
    d = {"sender": "n0", "recipient": "n1", "seq": 1, "sent_at": 0.0, "schema": "s", "nonce": b"\0" * 24, field: value}
    assert reason_of(codec.decode_head, b"P2PF\x01\x01" + msgpack.packb(d, use_bin_type=True)) is Reason.BAD_HEADER


def _body(fields: dict, payload: bytes = b"") -> bytes:
    packed = msgpack.packb(fields, use_bin_type=True)
    return len(packed).to_bytes(4, "big") + packed + payload


GOOD = {"ack": 0, "base": 0, "weight": 1.0, "age": 0, "dtype": "<f4", "n": MANIFEST.size}


@pytest.mark.parametrize(
    "fields, payload, reason",
    [
        ({**GOOD, "dtype": "<f8"}, vector().astype("<f8").tobytes(), Reason.BAD_DTYPE),
        ({**GOOD, "dtype": ">f4"}, vector().astype(">f4").tobytes(), Reason.BAD_DTYPE),
        ({**GOOD, "n": MANIFEST.size - 1}, vector()[:-1].tobytes(), Reason.BAD_SHAPE),
        (GOOD, vector().tobytes() + b"\0\0\0\0", Reason.BAD_SHAPE),
        (GOOD, vector().tobytes()[:-1], Reason.BAD_SHAPE),
        (GOOD, np.full(MANIFEST.size, np.nan, "<f4").tobytes(), Reason.NON_FINITE),
        (GOOD, np.where(np.arange(MANIFEST.size) == 3, np.inf, 0).astype("<f4").tobytes(), Reason.NON_FINITE),
        ({**GOOD, "weight": -1.0}, vector().tobytes(), Reason.BAD_BODY),
        ({**GOOD, "weight": float("inf")}, vector().tobytes(), Reason.BAD_BODY),
        ({**GOOD, "ack": -3}, vector().tobytes(), Reason.BAD_BODY),
        ({**GOOD, "extra": 1}, vector().tobytes(), Reason.BAD_BODY),
        ({k: v for k, v in GOOD.items() if k != "base"}, vector().tobytes(), Reason.BAD_BODY),
    ],
)
def test_malformed_model_bodies(fields, payload, reason):
    assert reason_of(codec.decode_body, Kind.PUSH, _body(fields, payload), MANIFEST) is reason


def test_truncated_and_overlong_bodies():
    assert reason_of(codec.decode_body, Kind.HEARTBEAT, b"\0\0", MANIFEST) is Reason.BAD_BODY
    assert reason_of(codec.decode_body, Kind.HEARTBEAT, b"\xff\xff\xff\xff", MANIFEST) is Reason.BAD_BODY
    assert reason_of(codec.decode_body, Kind.HEARTBEAT, _body({"ack": 1}, b"junk"), MANIFEST) is Reason.BAD_BODY


@given(st.binary(max_size=300))
def test_decode_head_never_crashes(data):
    try:
        codec.decode_head(data)
    except Rejected:
        pass


@given(st.binary(max_size=300), st.sampled_from(list(Kind)))
def test_decode_body_never_crashes(data, kind):
    try:
        codec.decode_body(kind, data, MANIFEST)
    except Rejected:
        pass


@given(
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63 - 1),
    st.floats(min_value=1e-6, max_value=1e9),
    st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=MANIFEST.size, max_size=MANIFEST.size),
)
def test_body_round_trip_property(ack, base, weight, values):
    x = np.array(values, dtype="<f4")
    f = Fields(ack=ack, base=base, weight=weight, age=1)
    fields, payload = codec.decode_body(Kind.PUSH, codec.encode_body(Kind.PUSH, f, x), MANIFEST)
    assert fields == f
    np.testing.assert_array_equal(payload, x)
