"""Parse the UCI HAR text formats (float matrices, id columns, numbered names) with line-exact errors."""

from __future__ import annotations

import re
import warnings

import numpy as np

from p2pfed.errors import DataError


def lines(data: bytes) -> list[bytes]:
    """The lines of a text file (CRLF or LF), without trailing blank lines."""
    out = data.replace(b"\r\n", b"\n").split(b"\n")
    while out and not out[-1].strip():
        out.pop()
    return out


def matrix(data: bytes, cols: int, where: str) -> np.ndarray:
    """Whitespace-separated floats, `cols` per line, as float64 (n, cols); errors name the line."""
    rows = lines(data)
    if not rows:
        raise DataError(f"{where}: is empty")
    counts = np.fromiter((len(line.split()) for line in rows), np.int64, len(rows))
    wrong = np.flatnonzero(counts != cols)
    if wrong.size:
        i = int(wrong[0])
        raise DataError(
            f"{where}: line {i + 1} has {int(counts[i])} values, expected {cols} "
            f"({wrong.size} line(s) have the wrong number of columns)"
        )
    n = len(rows)
    body = b"\n".join(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            a = np.fromstring(body, dtype=np.float64, sep=" ")  # text mode: fast, strict
        except (ValueError, DeprecationWarning):
            a = np.zeros(0)
    if a.size != n * cols:  # a token is not a number: find it, line by line
        for i, line in enumerate(rows):
            for tok in line.split():
                try:
                    float(tok)
                except ValueError:
                    text = tok.decode(errors="replace")
                    raise DataError(f"{where}: line {i + 1}: {text!r} is not a number") from None
        raise DataError(f"{where}: cannot parse the numbers")  # pragma: no cover - float() accepted all
    a = a.reshape(n, cols)
    finite = np.isfinite(a).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise DataError(f"{where}: line {i + 1} has NaN or Inf ({int((~finite).sum())} such line(s))")
    return a


def ids(data: bytes, where: str, what: str) -> np.ndarray:
    """One whole number per line (labels or subject ids) as int64."""
    a = matrix(data, 1, where)[:, 0]
    if (a != np.round(a)).any() or np.abs(a).max() >= 2**31:
        i = int(np.flatnonzero((a != np.round(a)) | (np.abs(a) >= 2**31))[0])
        raise DataError(f"{where}: line {i + 1}: {what} must be whole numbers, got {a[i]!r}")
    return a.astype(np.int64)


def numbered(data: bytes, where: str) -> list[tuple[int, str]]:
    """Lines "<id> <name>" (activity_labels.txt, features.txt)."""
    out = []
    for i, line in enumerate(lines(data)):
        m = re.fullmatch(rb"\s*(\d+)\s+(\S.*?)\s*", line)
        if m is None:
            raise DataError(f"{where}: line {i + 1} should be '<number> <name>', got {line[:60]!r}")
        out.append((int(m.group(1)), m.group(2).decode(errors="replace")))
    return out
