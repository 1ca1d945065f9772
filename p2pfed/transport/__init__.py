"""Transports: how envelopes move between nodes (unreliable, unordered, never blocking)."""

from p2pfed.transport.base import Incoming, Transport

__all__ = ["Incoming", "Transport"]
