"""Small validation helpers of the churn package: config checks, node-id lists, short listings."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from p2pfed.errors import ConfigError

#: Items (node ids, trace rows) listed in an error message before "... and N more".
MAX_LISTED = 8


def check(ok: bool, message: str) -> None:
    """Raise ConfigError(`message`) unless `ok`."""
    if not ok:
        raise ConfigError(message)


def finite(x: object) -> bool:
    """Whether `x` is a finite int or float (not a bool)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def check_range(name: str, value: float, lo: float, hi: float) -> None:
    """Raise ConfigError unless ``churn.<name>`` is a finite number in ``[lo, hi]``."""
    check(finite(value) and lo <= value <= hi, f"churn.{name} must be in [{lo:g}, {hi:g}], got {value!r}")


def check_nodes(nodes: Sequence[str], error: type[Exception]) -> tuple[str, ...]:
    """`nodes` as a tuple of distinct non-empty ids (at least one); else `error` saying what is wrong."""
    if isinstance(nodes, str):
        raise error(f"nodes must be a sequence of node ids, not the single string {nodes!r}")
    names = tuple(nodes)
    if not names:
        raise error("a churn schedule needs at least one node; none were given")
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise error(f"node ids must be non-empty strings, got {bad[:MAX_LISTED]!r}")
    dup = sorted(n for n, k in Counter(names).items() if k > 1)
    if dup:
        raise error(f"node ids listed more than once: {listed(dup)}")
    return names


def listed(xs: Sequence[str], ellipsis: str = " ...") -> str:
    """The first `MAX_LISTED` of `xs`, comma-separated, then ``<ellipsis> and N more`` if any are left."""
    xs = list(xs)
    shown = ", ".join(xs[:MAX_LISTED])
    return shown + (f"{ellipsis} and {len(xs) - MAX_LISTED} more" if len(xs) > MAX_LISTED else "")
