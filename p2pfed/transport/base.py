"""The Transport protocol every network implementation (memory, ZeroMQ) satisfies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Incoming:
    """Frames as received, with the transport's unauthenticated idea of who sent them."""

    hint: str  # claimed sender (ZeroMQ routing id / memory endpoint); never trusted
    frames: list[bytes]


class Transport(Protocol):
    """Unreliable, unordered delivery of multi-frame messages to named peers.

    `send` never blocks and never raises for a dead or slow peer: it returns False when the
    message could not even be queued.  `recv` waits for the next incoming message.
    """

    def send(self, peer: str, frames: Sequence[bytes]) -> bool: ...

    async def recv(self) -> Incoming: ...

    async def close(self) -> None: ...
