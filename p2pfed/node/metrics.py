"""The metrics log: one JSON object per line, flushed per line, read back tolerating a torn last line."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


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
