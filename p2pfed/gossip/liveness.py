"""Churn from a node's point of view: who was heard from recently, who went down, who came back."""

from __future__ import annotations

from collections.abc import Iterable


class Liveness:
    """Last-heard times of the peers; a peer silent for longer than `timeout` counts as down."""

    def __init__(self, peers: Iterable[str], timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self._last: dict[str, float | None] = {p: None for p in peers}
        self._up: set[str] = set()
        # next_expiry's answer and the up peer heard least recently (None: recompute)
        self._expiry: tuple[float, str | None] | None = None

    def heard(self, peer: str, now: float) -> bool:
        """Record a valid message from `peer`; True if it was down and is now back."""
        self._last[peer] = now
        cached = self._expiry
        # hearing a peer moves the expiry only if it was the least recent one, if nobody was up,
        # or if the clock went back
        if cached is not None and (peer == cached[1] or cached[1] is None or now + self.timeout < cached[0]):
            self._expiry = None
        if peer not in self._up:
            self._up.add(peer)
            return True
        return False

    def is_alive(self, peer: str, now: float) -> bool:
        last = self._last.get(peer)
        return last is not None and now < last + self.timeout

    def alive(self, now: float) -> list[str]:
        to = self.timeout
        return [p for p, last in self._last.items() if last is not None and now < last + to]

    def expire(self, now: float) -> list[str]:
        """Mark peers silent past the timeout as down; returns the ones that just went down."""
        to, last = self.timeout, self._last
        gone = [p for p in self._up if not now < last[p] + to]  # type: ignore[operator]
        if not gone:
            return gone
        self._up.difference_update(gone)
        self._expiry = None
        return sorted(gone)

    def next_expiry(self) -> float:
        """When the first peer now up would be declared down if it stays silent (inf if none)."""
        if self._expiry is None:
            if self._up:
                first = min(self._up, key=self._last.__getitem__)  # type: ignore[arg-type]
                self._expiry = (self._last[first] + self.timeout, first)  # type: ignore[operator]
            else:
                self._expiry = (float("inf"), None)
        return self._expiry[0]

    def last_heard(self, peer: str) -> float | None:
        return self._last.get(peer)

    @property
    def peers(self) -> list[str]:
        return list(self._last)
