"""Churn traces: reading a trace CSV (`read_trace`), writing one (`format_trace`), replaying it.

The ``trace`` model replays a CSV file (``churn.trace``) with header ``node,start,end``: one row
per online interval ``[start, end)`` in seconds, any number of rows per node, in any order. Rows
of a node must not overlap (touching rows are merged); every node named must be a simulated
node. Nodes absent from the trace are offline the whole time. Intervals are clipped to the
horizon. A relative path is relative to the spec file's folder (``base_dir``). `format_trace()`
writes any schedule in this format, so a drawn schedule can be saved and replayed.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from p2pfed.config import read_text
from p2pfed.errors import DataError
from p2pfed.sim.churn.checks import listed
from p2pfed.sim.churn.timeline import Schedule

#: Header line a trace CSV must start with.
TRACE_HEADER = ("node", "start", "end")


def read_trace(path: str | Path, nodes: Sequence[str]) -> dict[str, tuple[tuple[float, float], ...]]:
    """Read a churn trace CSV into each node's sorted, merged online intervals ``[start, end)``.

    The file has the header ``node,start,end`` and one row per online interval in seconds.
    Raises ConfigError if the file cannot be read, DataError (with file and line) if its content
    is wrong: bad header, wrong field count, non-numeric, negative or non-finite times, end not
    after start, overlapping rows of one node, or node ids that are not in `nodes`.
    """
    full = Path(path).expanduser()
    hint = "(churn.trace; relative to the spec file)"
    text = read_text(full, "churn trace", hint=hint, encoding="utf-8-sig")

    known = set(nodes)
    rows: dict[str, list[tuple[float, float, int]]] = {}
    unknown: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text))
    header_seen = False
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        fields = [f.strip() for f in fields]
        if not header_seen:
            if tuple(f.lower() for f in fields) != TRACE_HEADER:
                raise DataError(
                    f"{full}:{line}: the first line must be the header 'node,start,end', "
                    f"got {','.join(fields)!r}"
                )
            header_seen = True
            continue
        if len(fields) != 3:
            raise DataError(f"{full}:{line}: expected 3 fields node,start,end, got {len(fields)}: {fields!r}")
        node, raw_start, raw_end = fields
        if not node:
            raise DataError(f"{full}:{line}: the node id is empty")
        start = _trace_time(full, line, "start", raw_start)
        end = _trace_time(full, line, "end", raw_end)
        if end <= start:
            raise DataError(
                f"{full}:{line}: end {raw_end} must be after start {raw_start} (an interval [start, end))"
            )
        if node not in known:
            unknown.setdefault(node, line)
            continue
        rows.setdefault(node, []).append((start, end, line))
    if not header_seen:
        raise DataError(
            f"{full}: the file is empty; it needs the header 'node,start,end' and one row per interval"
        )
    if unknown:
        where = listed([f"{n!r} (line {ln})" for n, ln in unknown.items()], ellipsis="")
        raise DataError(
            f"{full}: the trace names nodes that are not simulated: {where}; nodes are {listed(nodes)}"
        )

    result: dict[str, tuple[tuple[float, float], ...]] = {}
    for node, spans in rows.items():
        spans.sort()
        merged: list[list[float]] = []
        prev_line = 0
        for start, end, line in spans:
            if merged and start < merged[-1][1]:
                raise DataError(
                    f"{full}:{line}: interval [{start:g}, {end:g}) of node {node!r} overlaps its interval "
                    f"ending at {merged[-1][1]:g} on line {prev_line}"
                )
            if merged and start == merged[-1][1]:
                merged[-1][1] = end
            else:
                merged.append([start, end])
            prev_line = line
        result[node] = tuple((s, e) for s, e in merged)
    return result


def format_trace(sched: Schedule) -> str:
    """`sched` as trace CSV text (header ``node,start,end``) that the ``trace`` model replays.

    Times are written exactly (``repr`` of the float), so replaying the text over the same
    horizon reproduces every transition; crash flags are not part of the format.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TRACE_HEADER)
    for node in sorted(sched.nodes):
        for start, end in sched.online_intervals(node):
            writer.writerow((node, repr(start), repr(end)))
    return buf.getvalue()


def _trace_time(path: Path, line: int, what: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"{path}:{line}: {what} {raw!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise DataError(f"{path}:{line}: {what} {raw!r} must be a finite number of seconds")
    if value < 0:
        raise DataError(f"{path}:{line}: {what} {raw} is negative; times are seconds from 0")
    return value


def resolve_path(p: str, base_dir: Path | None) -> Path:
    """`p` (``~`` expanded) if absolute, else relative to `base_dir` (default: the working directory)."""
    q = Path(p).expanduser()
    return q if q.is_absolute() else (base_dir if base_dir is not None else Path.cwd()) / q


def track(intervals: tuple[tuple[float, float], ...], horizon: float) -> tuple[bool, np.ndarray]:
    """Initial state and transitions of sorted, disjoint, non-touching online intervals."""
    init = False
    times: list[float] = []
    for start, end in intervals:
        if start >= horizon:
            break
        if start <= 0:
            init = True
        else:
            times.append(start)
        if end < horizon:
            times.append(end)
    return init, np.array(times, dtype=np.float64)

