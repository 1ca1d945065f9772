"""Counters a node keeps (messages, bytes, exchanges, rejections by reason) and its JSONL log."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
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


def json_safe(v: Any) -> Any:
    """`v` with NaN and infinities replaced by None (recursively), so it dumps as strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_safe(x) for x in v]
    return v


class MetricsLog:
    """Appends one JSON object per line and flushes it, so a crash loses at most one line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(json_safe(record), separators=(",", ":")) + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a metrics file, skipping a torn last line (a node killed mid-write)."""
    out = []
    try:
        with Path(path).open(encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return out
