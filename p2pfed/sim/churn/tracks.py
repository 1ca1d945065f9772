"""What every churn model's per-node track is made of: keyed random streams and transition times.

Determinism. A node's schedule depends only on (seed, node id) and the config: it has its own
random streams keyed by a 128-bit BLAKE2b hash of the seed and the id (not CRC32, whose
collisions among thousands of ids would give two nodes identical schedules), so adding,
removing or reordering other nodes changes nothing about it. Streams are refilled in fixed-size
chunks (`CHUNK`), so a longer horizon extends a schedule without changing its beginning.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numpy.random import PCG64, Generator, SeedSequence

#: Draws per refill of a node's random stream. Fixed (never derived from the horizon) so that a
#: longer horizon extends a schedule instead of changing it. Even, so on/off alternation carries
#: over from one chunk to the next.
CHUNK = 64


def stream(seed: int, node: str, stream: int) -> Generator:
    """Random stream `stream` of `node`, keyed by a 128-bit hash of (seed, stream, node id)."""
    key = hashlib.blake2b(
        seed.to_bytes(8, "little") + bytes([stream]) + node.encode("utf-8"),
        digest_size=16,
        person=b"p2pfed.churn",
    ).digest()
    return Generator(PCG64(SeedSequence(int.from_bytes(key, "little"))))


def changes(state: bool, at: np.ndarray, online: np.ndarray) -> np.ndarray:
    """The times among `at` where the sequence of states `online` differs from the one before."""
    before = np.concatenate(([state], online[:-1]))
    return at[online != before]


def strictly_increasing(times: np.ndarray, horizon: float) -> np.ndarray:
    """Guard against float ties (a zero-length spell): nudge each tie just past its predecessor."""
    if times.size == 0 or (times[0] > 0 and bool(np.all(np.diff(times) > 0))):
        return times
    out = times.tolist()
    prev = 0.0
    for k, t in enumerate(out):
        if t <= prev:
            out[k] = t = math.nextafter(prev, math.inf)
        prev = t
    kept = [t for t in out if t < horizon]
    return np.array(kept, dtype=np.float64)
