"""Sequence numbers that survive restarts, and the sliding replay window that checks them."""

from __future__ import annotations

from collections.abc import Mapping

#: How far ahead of the last issued number the persisted reservation is kept.
DEFAULT_RESERVE = 100_000


class SequenceCounter:
    """Issues strictly increasing sequence numbers that never repeat across restarts.

    What is persisted is a *reservation*: a number at least `reserve // 2` above every number
    issued so far.  A restarted node starts above the reservation (and above the current time in
    microseconds, which covers lost state), so peers never take it for a replayer.  When the
    counter gets within half a reservation of the persisted value it raises `needs_persist`.
    """

    def __init__(self, start: int, reserve: int = DEFAULT_RESERVE) -> None:
        if start < 1:
            raise ValueError("sequence numbers start at 1")
        if reserve < 2:
            raise ValueError("reserve must be >= 2")
        self._next = start
        self._reserve = reserve
        self._reserved = start + reserve
        self.needs_persist = True

    @classmethod
    def resume(cls, persisted: int | None, now: float, reserve: int = DEFAULT_RESERVE) -> SequenceCounter:
        """Counter for a (re)started node: above the persisted reservation and the clock."""
        floor = int(now * 1_000_000)
        start = max((persisted or 0) + 1, floor, 1)
        return cls(start, reserve)

    def next(self) -> int:
        seq = self._next
        self._next += 1
        if self._next > self._reserved - self._reserve // 2:
            self._reserved = self._next + self._reserve
            self.needs_persist = True
        return seq

    @property
    def reserved(self) -> int:
        """The value to persist: every number issued so far (and soon) is at most this."""
        return self._reserved

    def persisted(self) -> int:
        """Call after `reserved` has been durably written; returns the value written."""
        self.needs_persist = False
        return self._reserved


class ReplayWindow:
    """Anti-replay window of one sender (as in RFC 4303): accepts each sequence number once.

    Numbers above the highest seen are accepted; numbers up to `size - 1` below it are accepted
    once if not yet seen (so mild reordering is tolerated); older ones are rejected.
    """

    __slots__ = ("_bits", "_high", "size")

    def __init__(self, size: int = 1024, high: int = 0) -> None:
        if size < 1:
            raise ValueError("window size must be >= 1")
        self.size = size
        self._high = high
        # bit i set <=> (high - i) has been seen; numbers <= a restored mark count as seen
        self._bits = (1 << size) - 1 if high > 0 else 0

    @property
    def high(self) -> int:
        return self._high

    def check(self, seq: int) -> bool:
        """True if `seq` would be accepted (does not record it)."""
        if seq <= 0:
            return False
        if seq > self._high:
            return True
        offset = self._high - seq
        return offset < self.size and not (self._bits >> offset) & 1

    def commit(self, seq: int) -> None:
        """Record `seq` as seen; call only after the message carrying it was authenticated."""
        if not self.check(seq):
            raise ValueError(f"sequence number {seq} was not acceptable")
        if seq > self._high:
            shift = seq - self._high
            # a jump past the window (e.g. a restarted sender, whose numbers resume above the
            # clock in microseconds) clears it; never build a `shift`-bit integer
            self._bits = 1 if shift >= self.size else ((self._bits << shift) | 1) & ((1 << self.size) - 1)
            self._high = seq
        else:
            self._bits |= 1 << (self._high - seq)


class ReplayGuard:
    """One replay window per sender; its marks (highest seq per sender) are persisted."""

    def __init__(self, size: int = 1024, marks: Mapping[str, int] | None = None) -> None:
        self.size = size
        self._windows: dict[str, ReplayWindow] = {
            s: ReplayWindow(size, int(h)) for s, h in (marks or {}).items()
        }

    def check(self, sender: str, seq: int) -> bool:
        w = self._windows.get(sender)
        return seq > 0 if w is None else w.check(seq)

    def commit(self, sender: str, seq: int) -> None:
        w = self._windows.get(sender)
        if w is None:
            w = self._windows[sender] = ReplayWindow(self.size)
        w.commit(seq)

    def marks(self) -> dict[str, int]:
        """Highest accepted sequence number per sender (what survives a restart)."""
        return {s: w.high for s, w in self._windows.items()}
