"""Hostile input against a live node over real ZeroMQ: each attack is rejected under its reason,
counted, and leaves the node healthy with its model bit-for-bit unchanged.

The node is fully assembled from config (key file, roster, data, learner, ZeroMQ transport) and
runs its real driver; the attacker is a raw DEALER socket on loopback holding real keys.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgpack
import numpy as np
import pytest
import tomli_w
import zmq
import zmq.asyncio

from helpers import Federation, federation, forge
from p2pfed.wire.codec import Fields, Kind
from p2pfed.config import load_node_config
from p2pfed.wire.crypto import Identity, write_key_file
from p2pfed.node.runner import Node, assemble

IDS = ["n0", "n1", "n2"]  # n1 is the live node; the attacker holds n0's and n2's keys


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    node: Node
    fed: Federation
    sock: zmq.asyncio.Socket
    seq: int = 10**15

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def send(self, frames: list[bytes]) -> None:
        await self.sock.send_multipart(frames)

    async def wait_for(self, cond: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "timed out waiting for the node"
            await asyncio.sleep(0.01)

    async def expect_rejected(self, frames: list[bytes], reason: str | None) -> None:
        """Send `frames`; the node must reject them (under `reason`, if given) and change nothing."""
        c = self.node.core.counters
        before_params = self.node.core.params.copy()
        before_total, before_reason = c.rejected, c.rejections.get(reason or "", 0)
        before_in, before_ex = c.msgs_in, c.exchanges
        await self.send(frames)
        await self.wait_for(lambda: c.rejected > before_total)
        assert c.rejected == before_total + 1
        if reason is not None:
            assert c.rejections[reason] == before_reason + 1, dict(c.rejections)
        assert (c.msgs_in, c.exchanges) == (before_in, before_ex)
        np.testing.assert_array_equal(self.node.core.params, before_params)
        await self.assert_healthy()

    async def assert_healthy(self) -> None:
        """The node still accepts an authentic message from a member."""
        c = self.node.core.counters
        n = c.msgs_in
        await self.send(forge(self.fed, signer="n0", recipient="n1", kind=Kind.HEARTBEAT, fields=Fields(), seq=self.next_seq()))
        await self.wait_for(lambda: c.msgs_in > n)
        assert c.internal_errors == 0


@pytest.fixture
async def live(tmp_path):
    fed = federation(3)
    ports = {i: _port() for i in IDS}
    for i in IDS:
        write_key_file(tmp_path / f"{i}.key", fed.identities[i], i)
    roster = {
        "federation": {"topology": "complete"},
        "member": [{"id": i, "public_key": fed.identities[i].public_key_b64, "address": f"tcp://127.0.0.1:{ports[i]}"} for i in IDS],
    }
    (tmp_path / "roster.toml").write_text(tomli_w.dumps(roster))
    (tmp_path / "n1.toml").write_text(
        tomli_w.dumps(
            {
                "node": {"id": "n1", "key": "n1.key", "roster": "roster.toml", "state_dir": "state"},
                "data": {"users": [1], "eval_users": 0},
                "runtime": {"train": False, "metrics_interval": 60.0},
                "liveness": {"heartbeat_interval": 60.0, "peer_timeout": 120.0},
            }
        )
    )
    node = assemble(load_node_config(tmp_path / "n1.toml"))
    fed = Federation(IDS, fed.identities, node.learner.manifest)
    stop = asyncio.Event()
    task = asyncio.create_task(node.driver.run(stop))
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{ports['n1']}")
    lv = Live(node, fed, sock)
    await lv.assert_healthy()  # connected and accepting
    try:
        yield lv
    finally:
        assert not task.done(), "the node's driver stopped"
        stop.set()
        await asyncio.wait_for(task, 10)
        sock.close(0)
        ctx.term()


async def test_positive_control_valid_push_is_merged(live):
    """Without this, the tests below could pass against a node that ignores everything."""
    before = live.node.core.params.copy()
    x = np.full(live.fed.manifest.size, 0.5, "<f4")
    await live.send(forge(live.fed, signer="n0", recipient="n1", payload=x, fields=Fields(weight=1000.0), seq=live.next_seq()))
    await live.wait_for(lambda: live.node.core.counters.exchanges == 1)
    assert not np.array_equal(live.node.core.params, before)
    assert live.node.core.counters.rejected == 0


async def test_flipped_byte_anywhere(live):
    rng = np.random.default_rng(0)
    for trial in range(24):
        frames = forge(live.fed, signer="n0", recipient="n1", seq=live.next_seq())
        i = trial % 3
        f = bytearray(frames[i])
        f[rng.integers(len(f))] ^= 1 << rng.integers(8)
        frames[i] = bytes(f)
        await live.expect_rejected(frames, None)


async def test_signature_by_another_members_key(live):
    await live.expect_rejected(forge(live.fed, signer="n2", sender="n0", recipient="n1", seq=live.next_seq()), "bad_signature")


async def test_sender_not_on_roster(live):
    outsider = Identity.generate()
    frames = forge(live.fed, signer_identity=outsider, sender="mallory", recipient="n1", seq=live.next_seq())
    await live.expect_rejected(frames, "unknown_sender")


async def test_message_addressed_to_someone_else(live):
    await live.expect_rejected(forge(live.fed, signer="n0", recipient="n2", seq=live.next_seq()), "wrong_recipient")


async def test_replayed_and_older_sequence_numbers(live):
    frames = forge(live.fed, signer="n0", recipient="n1", kind=Kind.HEARTBEAT, fields=Fields(), seq=live.next_seq())
    await live.send(frames)
    await live.assert_healthy()
    await live.expect_rejected(frames, "replay")  # byte-identical replay
    old = forge(live.fed, signer="n0", recipient="n1", kind=Kind.HEARTBEAT, fields=Fields(), seq=live.seq - 5000)
    await live.expect_rejected(old, "replay")  # authentic but older than the window


async def test_oversized_frame_and_too_many_frames(live):
    frames = forge(live.fed, signer="n0", recipient="n1", seq=live.next_seq())
    await live.expect_rejected([frames[0], frames[1] + b"\0" * (live.node.wire.max_body + 1), frames[2]], "oversized")
    await live.expect_rejected(frames + [b"extra"] * 20, "bad_frames")
    await live.expect_rejected(frames[:2], "bad_frames")


async def test_malformed_header(live):
    frames = forge(live.fed, signer="n0", recipient="n1", seq=live.next_seq())
    await live.expect_rejected([b"P2PF\x01\x02" + msgpack.packb({"sender": "n0"}), frames[1], frames[2]], "bad_header")
    await live.expect_rejected([b"P2PF\x01\x02\xc1\xc1", frames[1], frames[2]], "bad_header")
    await live.expect_rejected([b"HTTP/1.1 200", frames[1], frames[2]], "bad_prefix")


def _plain(manifest, over: dict, payload: bytes) -> bytes:
    d = {"ack": 0, "base": 0, "weight": 1.0, "age": 0, "dtype": "<f4", "n": manifest.size, **over}
    packed = msgpack.packb(d, use_bin_type=True)
    return len(packed).to_bytes(4, "big") + packed + payload


async def test_payload_of_wrong_shape_or_dtype(live):
    m = live.fed.manifest
    short = _plain(m, {"n": m.size - 1}, np.zeros(m.size - 1, "<f4").tobytes())
    await live.expect_rejected(forge(live.fed, signer="n0", recipient="n1", plaintext=short, seq=live.next_seq()), "bad_shape")
    big_endian = _plain(m, {"dtype": ">f4"}, np.zeros(m.size, ">f4").tobytes())  # same size, other dtype
    await live.expect_rejected(forge(live.fed, signer="n0", recipient="n1", plaintext=big_endian, seq=live.next_seq()), "bad_dtype")
    f64 = _plain(m, {"dtype": "<f8"}, np.zeros(m.size, "<f8").tobytes())  # twice the size: caught earlier
    await live.expect_rejected(forge(live.fed, signer="n0", recipient="n1", plaintext=f64, seq=live.next_seq()), "oversized")


async def test_nan_and_inf_values(live):
    m = live.fed.manifest
    for bad in (np.nan, np.inf, -np.inf):
        x = np.zeros(m.size, "<f4")
        x[m.size // 2] = bad
        await live.expect_rejected(forge(live.fed, signer="n0", recipient="n1", payload=x, seq=live.next_seq()), "non_finite")


async def test_garbage_floods_do_not_stop_the_node(live):
    rng = np.random.default_rng(1)
    c = live.node.core.counters
    before = c.rejected
    for _ in range(200):
        n = int(rng.integers(1, 6))
        await live.send([rng.bytes(int(rng.integers(0, 300))) for _ in range(n)])
    await live.wait_for(lambda: c.rejected == before + 200)
    await live.assert_healthy()
