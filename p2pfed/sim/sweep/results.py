"""A sweep's results: the points' outcomes, summary.csv, and summary.md's mean ± std per group over seeds."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from p2pfed.sim.sweep.grid import Point, SweepSpec, toml_value

ERRORS_LOG = "errors.log"
"""The failed points' tracebacks in the output folder (written by the executor, named in summary.md)."""
SUMMARY_METRICS = ("acc_mean", "acc_p10", "local_acc_mean", "consensus", "online", "bytes_per_node")
"""Final metrics (from `summary.json["final"]`) written to summary.csv and summary.md."""


@dataclasses.dataclass(frozen=True)
class PointResult:
    """What happened to one point: "done" (ran now), "skipped" (already complete), "failed" or "pending"."""

    point: Point
    status: str
    summary: Mapping[str, Any] | None = None
    error: str = ""
    seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Every point's result in grid order, and the summary files written."""

    results: tuple[PointResult, ...]
    csv_path: Path
    md_path: Path

    @property
    def failed(self) -> tuple[PointResult, ...]:
        return tuple(r for r in self.results if r.status == "failed")

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def point_metrics(summary: Mapping[str, Any] | None) -> dict[str, float | None]:
    """The summary metrics of one point: its final SUMMARY_METRICS and wall_seconds (None if absent)."""
    final = (summary or {}).get("final") or {}
    out = {m: _number(final.get(m)) if isinstance(final, Mapping) else None for m in SUMMARY_METRICS}
    out["wall_seconds"] = _number((summary or {}).get("wall_seconds"))
    return out


def _cell(v: Any) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else toml_value(v)


_CSV_STATUS = {"done": "ok", "skipped": "ok", "failed": "failed", "pending": "not run"}


def summary_csv(sweep: SweepSpec, results: Sequence[PointResult]) -> str:
    """summary.csv: point, the grid keys, seed, final metrics, wall_seconds and status, one row per point."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point", *sweep.keys, "seed", *SUMMARY_METRICS, "wall_seconds", "status"])
    for r in results:
        m = point_metrics(r.summary)
        seed = (r.summary or {}).get("seed", dict(r.point.values).get(sweep.seed_key))
        w.writerow(
            [r.point.name, *(_cell(v) for _, v in r.point.values), _cell(seed)]
            + [_cell(m[k]) for k in (*SUMMARY_METRICS, "wall_seconds")]
            + [_CSV_STATUS[r.status]]
        )
    return buf.getvalue()


@dataclasses.dataclass(frozen=True)
class GroupStats:
    """Mean and sample standard deviation of each metric over the completed points of one group."""

    values: tuple[tuple[str, Any], ...]  # the group's grid values (seed key excluded)
    runs: int  # completed points in the group
    total: int  # points in the group
    mean: Mapping[str, float | None]
    std: Mapping[str, float | None]  # None when fewer than two values
    n: Mapping[str, int]  # values per metric (metrics can be null in a summary)


def group_stats(sweep: SweepSpec, results: Sequence[PointResult]) -> list[GroupStats]:
    """Group the points by every grid key but the seed key, in grid order, with mean ± std per metric."""
    groups: dict[tuple[str, ...], list[PointResult]] = {}
    labels: dict[tuple[str, ...], tuple[tuple[str, Any], ...]] = {}
    for r in results:
        vals = tuple((k, v) for k, v in r.point.values if k != sweep.seed_key)
        key = tuple(toml_value(v) for _, v in vals)
        groups.setdefault(key, []).append(r)
        labels[key] = vals
    out = []
    for key, members in groups.items():
        ok = [r for r in members if r.status in ("done", "skipped") and r.summary is not None]
        per_point = [point_metrics(r.summary) for r in ok]
        mean: dict[str, float | None] = {}
        std: dict[str, float | None] = {}
        n: dict[str, int] = {}
        for m in (*SUMMARY_METRICS, "wall_seconds"):
            xs = [x for p in per_point if (x := p[m]) is not None]
            n[m] = len(xs)
            mu = math.fsum(xs) / len(xs) if xs else None
            mean[m] = mu
            std[m] = None
            if mu is not None and len(xs) >= 2:
                std[m] = math.sqrt(math.fsum((x - mu) ** 2 for x in xs) / (len(xs) - 1))
        out.append(GroupStats(labels[key], len(ok), len(members), mean, std, n))
    return out


_PERCENT = {"acc_mean", "acc_p10", "local_acc_mean", "online"}
_HEADERS = {
    "acc_mean": "accuracy (mean)",
    "acc_p10": "accuracy (worst 10 %)",
    "local_acc_mean": "own-data accuracy",
    "consensus": "consensus distance",
    "online": "online",
    "bytes_per_node": "sent per node",
    "wall_seconds": "wall time",
}


def format_stat(metric: str, mean: float | None, std: float | None) -> str:
    """`mean ± std` in the metric's unit (%, bytes, seconds); just the mean when std is None."""
    if mean is None:
        return "n/a"
    if std is not None and std <= 1e-9 * abs(mean):
        std = 0.0  # equal values whose mean is not exactly representable
    if metric in _PERCENT:
        return f"{100 * mean:.1f} ± {100 * std:.1f} %" if std is not None else f"{100 * mean:.1f} %"
    if metric == "bytes_per_node":
        unit, div = next(((u, d) for u, d in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)) if abs(mean) >= d), ("B", 1.0))
        return f"{mean / div:.3g} ± {std / div:.2g} {unit}" if std is not None else f"{mean / div:.3g} {unit}"
    if metric == "wall_seconds":
        return f"{mean:.1f} ± {std:.1f} s" if std is not None else f"{mean:.1f} s"
    return f"{mean:.3g} ± {std:.2g}" if std is not None else f"{mean:.3g}"


def summary_markdown(sweep: SweepSpec, results: Sequence[PointResult]) -> str:
    """summary.md: one row per group of points differing only in the seed key, mean ± std over seeds."""
    failed = [r for r in results if r.status == "failed"]
    pending = sum(r.status == "pending" for r in results)
    lines = [
        f"# Sweep {sweep.path.name}",
        "",
        f"Base spec `{sweep.spec}`"
        + (f", with `{' '.join(sweep.overrides)}`" if sweep.overrides else "")
        + f". {len(results)} points, {len(results) - len(failed) - pending} complete, {len(failed)} failed"
        + (f", {pending} not run (interrupted)" if pending else "")
        + ". "
        f"Each row: mean ± sample standard deviation over `{sweep.seed_key}` (final metrics; "
        "runs = completed / all points of the row).",
        "",
    ]
    metrics = (*SUMMARY_METRICS, "wall_seconds")
    header = [*sweep.group_keys, "runs", *(_HEADERS[m] for m in metrics)]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for g in group_stats(sweep, results):
        cells = [_cell(v) for _, v in g.values] + [f"{g.runs}/{g.total}"]
        cells += [format_stat(m, g.mean[m], g.std[m]) for m in metrics]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if failed:
        lines += ["", f"Failed points (tracebacks in `{ERRORS_LOG}`):", ""]
        lines += [f"- `{r.point.name}`: {r.error}" for r in failed]
    return "\n".join(lines) + "\n"


def write_summaries(sweep: SweepSpec, results: Sequence[PointResult]) -> tuple[Path, Path]:
    """Write OUT/summary.csv and OUT/summary.md atomically; returns their paths."""
    csv_path, md_path = sweep.out / "summary.csv", sweep.out / "summary.md"
    write_atomic(csv_path, summary_csv(sweep, results))
    write_atomic(md_path, summary_markdown(sweep, results))
    return csv_path, md_path
