"""ZeroMQ transport on loopback: delivery, a dead peer never blocks, bounded queues, clear errors."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from p2pfed.config import TransportConfig
from p2pfed.errors import TransportError
from p2pfed.transport.zeromq import ZmqTransport


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_round_trip_multipart():
    pa, pb = free_port(), free_port()
    a = ZmqTransport(f"tcp://127.0.0.1:{pa}", {"b": f"tcp://127.0.0.1:{pb}"})
    b = ZmqTransport(f"tcp://127.0.0.1:{pb}", {"a": f"tcp://127.0.0.1:{pa}"})
    try:
        a.connect(["b"])
        payload = bytes(range(256)) * 4096  # 1 MiB
        assert await until(lambda: a.send("b", [b"head", payload, b"s" * 64]))
        got = await asyncio.wait_for(b.recv(), 5)
        assert got.frames == [b"head", payload, b"s" * 64]
        assert got.hint  # a routing id, informational only
    finally:
        await a.close()
        await b.close()


async def test_dead_peer_never_blocks():
    """Sending to a peer that is not there returns at once (False), thousands of times."""
    a = ZmqTransport(f"tcp://127.0.0.1:{free_port()}", {"ghost": f"tcp://127.0.0.1:{free_port()}"})
    try:
        t0 = time.perf_counter()
        results = [a.send("ghost", [b"x" * 1000, b"y", b"z"]) for _ in range(5000)]
        elapsed = time.perf_counter() - t0
        assert not any(results)
        assert elapsed < 2.0
        assert not a.send("unknown-peer", [b"x"])
    finally:
        await a.close()


async def test_slow_peer_hits_hwm_instead_of_blocking():
    pa, pb = free_port(), free_port()
    cfg = TransportConfig(send_hwm=4)
    a = ZmqTransport(f"tcp://127.0.0.1:{pa}", {"b": f"tcp://127.0.0.1:{pb}"}, cfg)
    b = ZmqTransport(f"tcp://127.0.0.1:{pb}", {}, TransportConfig(recv_hwm=4))
    try:
        a.connect(["b"])
        assert await until(lambda: a.send("b", [b"warmup"]))
        big = b"x" * (1 << 20)
        t0 = time.perf_counter()
        sent = sum(a.send("b", [big]) for _ in range(2000))  # b never reads
        assert time.perf_counter() - t0 < 5.0
        assert sent < 2000  # the queue filled up and sends were refused, not blocked
    finally:
        await a.close()
        await b.close()


async def test_peer_restart_reconnects():
    pa, pb = free_port(), free_port()
    addr_b = f"tcp://127.0.0.1:{pb}"
    a = ZmqTransport(f"tcp://127.0.0.1:{pa}", {"b": addr_b}, TransportConfig(reconnect_ivl_ms=50, reconnect_ivl_max_ms=100))
    b = ZmqTransport(addr_b, {})
    try:
        a.connect(["b"])
        assert await until(lambda: a.send("b", [b"1"]))
        await asyncio.wait_for(b.recv(), 5)
        await b.close()
        assert await until(lambda: not a.send("b", [b"lost"]))  # disconnect noticed
        b = ZmqTransport(addr_b, {})
        assert await until(lambda: a.send("b", [b"2"]), timeout=10)
        assert (await asyncio.wait_for(b.recv(), 5)).frames == [b"2"]
    finally:
        await a.close()
        await b.close()


async def test_address_in_use_is_a_clear_error():
    port = free_port()
    a = ZmqTransport(f"tcp://127.0.0.1:{port}", {})
    try:
        with pytest.raises(TransportError, match="cannot listen"):
            ZmqTransport(f"tcp://127.0.0.1:{port}", {})
    finally:
        await a.close()
