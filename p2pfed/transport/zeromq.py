"""ZeroMQ transport: one ROUTER to receive, one DEALER per peer to send; never blocks on a peer.

Every message travels over the sender's DEALER to the recipient's ROUTER, so a node only ever
binds one port.  DEALERs use `IMMEDIATE` (no queueing for peers that are not connected),
a small send high-water mark, non-blocking sends, `linger=0` and ZMTP heartbeats, so a dead or
slow peer costs a dropped message, never a stalled node.  DEALERs do not set a routing identity:
identities are unauthenticated, and a forged one could hijack a peer's slot on our ROUTER.
Authentication is the envelope's job (p2pfed.wire.envelope).  This is the only module importing zmq.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import zmq
import zmq.asyncio

from p2pfed.config import TransportConfig
from p2pfed.errors import TransportError
from p2pfed.transport.base import Incoming

log = logging.getLogger(__name__)


class ZmqTransport:
    """A node's ZeroMQ endpoint: bound at `listen`, sends to peers at `addresses`."""

    def __init__(
        self,
        listen: str,
        addresses: Mapping[str, str],
        cfg: TransportConfig = TransportConfig(),
        max_message_bytes: int = 64 << 20,
    ) -> None:
        self.cfg = cfg
        self.addresses = dict(addresses)
        self._ctx = zmq.asyncio.Context()
        self._sync_ctx = zmq.Context.shadow(self._ctx)
        self._dealers: dict[str, zmq.Socket] = {}
        self._closed = False
        self._router = self._ctx.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 0)
        self._router.setsockopt(zmq.RCVHWM, cfg.recv_hwm)
        self._router.setsockopt(zmq.MAXMSGSIZE, cfg.max_message_bytes or max_message_bytes)
        self._router.setsockopt(zmq.HEARTBEAT_IVL, cfg.heartbeat_ivl_ms)
        self._router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * cfg.heartbeat_ivl_ms)
        try:
            self._router.bind(listen)
        except zmq.ZMQError as e:
            self._router.close(linger=0)
            self._ctx.destroy(linger=0)
            raise TransportError(f"cannot listen on {listen}: {e.strerror}") from None
        self.bound = self._router.getsockopt_string(zmq.LAST_ENDPOINT)
        log.debug("listening on %s", self.bound)

    def _dealer(self, peer: str) -> zmq.Socket | None:
        sock = self._dealers.get(peer)
        if sock is not None:
            return sock
        address = self.addresses.get(peer)
        if address is None:
            return None
        sock = self._sync_ctx.socket(zmq.DEALER)
        for opt, val in (
            (zmq.LINGER, 0),
            (zmq.SNDHWM, self.cfg.send_hwm),
            (zmq.IMMEDIATE, 1),
            (zmq.SNDTIMEO, 0),
            (zmq.RECONNECT_IVL, self.cfg.reconnect_ivl_ms),
            (zmq.RECONNECT_IVL_MAX, self.cfg.reconnect_ivl_max_ms),
            (zmq.HEARTBEAT_IVL, self.cfg.heartbeat_ivl_ms),
            (zmq.HEARTBEAT_TIMEOUT, 3 * self.cfg.heartbeat_ivl_ms),
            (zmq.TCP_KEEPALIVE, 1),
        ):
            sock.setsockopt(opt, val)
        sock.connect(address)
        self._dealers[peer] = sock
        return sock

    def connect(self, peers: Sequence[str]) -> None:
        """Start connecting to `peers` now, so the first messages are not dropped."""
        for p in peers:
            self._dealer(p)

    def send(self, peer: str, frames: Sequence[bytes]) -> bool:
        if self._closed:
            return False
        sock = self._dealer(peer)
        if sock is None:
            log.warning("no address for peer %s; message dropped", peer)
            return False
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:  # not connected (IMMEDIATE) or high-water mark reached
            return False
        except zmq.ZMQError as e:
            log.warning("send to %s failed: %s", peer, e)
            return False

    async def recv(self) -> Incoming:
        parts = await self._router.recv_multipart(copy=True)
        return Incoming(parts[0].hex(), list(parts[1:]))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sock in self._dealers.values():
            sock.close(linger=0)
        self._router.close(linger=0)
        self._ctx.destroy(linger=0)
