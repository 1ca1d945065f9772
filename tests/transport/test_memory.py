"""The in-memory network: delivery, loss, delay, partitions, closed endpoints."""

from __future__ import annotations

import asyncio

import pytest

from p2pfed.transport.memory import MemoryNetwork


async def test_delivery_and_hint():
    net = MemoryNetwork()
    a, b = net.endpoint("a"), net.endpoint("b")
    assert a.send("b", [b"x", b"y"])
    got = await asyncio.wait_for(b.recv(), 1)
    assert got.hint == "a" and got.frames == [b"x", b"y"]
    assert not a.send("nobody", [b"x"])


async def test_loss_is_seeded_and_roughly_right():
    def run(seed):
        net = MemoryNetwork(seed=seed, loss=0.3, queue_size=10_000)
        net.endpoint("a")
        b = net.endpoint("b")
        for _ in range(2000):
            net._endpoints["a"].send("b", [b"m"])
        return b._queue.qsize()

    assert run(1) == run(1)
    assert 1250 < run(1) < 1550


async def test_delay_and_partition():
    net = MemoryNetwork(delay=0.05)
    a, b, c = (net.endpoint(x) for x in "abc")
    net.partition([["a", "b"], ["c"]])
    assert a.send("b", [b"1"])
    assert not a.send("c", [b"2"])
    assert b._queue.empty()  # not yet: delayed
    assert (await asyncio.wait_for(b.recv(), 1)).frames == [b"1"]
    net.heal()
    assert a.send("c", [b"3"])
    assert (await asyncio.wait_for(c.recv(), 1)).frames == [b"3"]


async def test_closed_endpoint_and_bounded_queue():
    net = MemoryNetwork(queue_size=3)
    a, b = net.endpoint("a"), net.endpoint("b")
    for _ in range(10):
        a.send("b", [b"m"])
    assert b._queue.qsize() == 3 and net.dropped == 7
    with pytest.raises(ValueError):
        net.endpoint("b")
    await b.close()
    assert not a.send("b", [b"m"])
    with pytest.raises(ConnectionError):
        await b.recv()
    net.endpoint("b")  # a closed endpoint can be reopened (node restart)
