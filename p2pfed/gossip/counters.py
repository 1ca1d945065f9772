"""Counters a node core keeps: messages, bytes, exchanges, rounds, and rejections by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Counters:
    """Monotonic counters of one node since it (re)started from its persisted state."""

    msgs_in: int = 0
    msgs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    send_failures: int = 0  # transport could not queue a message (peer down or HWM reached)
    exchanges: int = 0  # models merged (both sides of a push-pull exchange count one each)
    pushes: int = 0  # exchanges this node initiated
    replies: int = 0  # exchanges this node answered
    timeouts: int = 0  # initiated exchanges whose reply never came
    keyframes_out: int = 0
    heartbeats_out: int = 0
    rounds: int = 0  # gossip periods elapsed
    idle_rounds: int = 0  # periods with no live neighbour to gossip with
    train_steps: int = 0
    diverged: int = 0  # local updates discarded because training produced NaN/Inf
    internal_errors: int = 0  # bugs caught at the message boundary (should stay 0)
    rejections: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str) -> None:
        self.rejections[reason] += 1

    @property
    def rejected(self) -> int:
        return sum(self.rejections.values())

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "rejections"}
        d["rejections"] = dict(sorted(self.rejections.items()))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Counters:
        c = cls(**{k: int(v) for k, v in d.items() if k in cls.__dataclass_fields__ and k != "rejections"})
        c.rejections.update({str(k): int(v) for k, v in dict(d.get("rejections", {})).items()})
        return c
