"""Parameter sweeps: expand a grid of spec overrides, run the points in parallel, resumably, and tabulate.

A sweep file is TOML::

    spec = "churn-study.toml"        # base simulation spec, relative to the sweep file (required)
    out = "runs/churn-sweep"         # output folder, relative to the current directory
                                     # (default: runs/<sweep file stem>; `--out` overrides it)
    seed_key = "sim.seed"            # grid key averaged over in summary.md (default "sim.seed")

    [grid]                           # every combination of these overrides is one run (required)
    "churn.availability" = [1.0, 0.5, 0.25, 0.1]
    "sim.algorithm" = ["gossip", "dpsgd"]
    "sim.seed" = [0, 1, 2]

Grid keys are dotted spec keys exactly as `--set` takes them (quoted, or written as nested tables
such as `[grid.churn]`); each value is a non-empty array of distinct TOML values (numbers, strings,
booleans, arrays...). Points are the cartesian product in file order (the last key varies
fastest). Each point runs in `OUT/<name>/`, where the name lists its overrides, e.g.
`churn.availability=0.5,sim.algorithm=gossip,sim.seed=1` (characters unsafe in file names become
`_`). Extra `--set` overrides apply to every point and may not repeat a grid key.

Resumable: a point whose `summary.json` exists is complete and skipped; any other point folder is
deleted and rerun from scratch. `OUT/sweep.json` records the sweep (spec, extra overrides, grid,
points; `p2pfed plot OUT` reads it); rerunning into the same OUT with a different base spec or
different `--set` overrides is refused. A failing point does not stop the others: its traceback
goes to `OUT/errors.log`. At the end (also after Ctrl-C) `OUT/summary.csv` has one row per point
(grid values, seed, final metrics, wall seconds, status: ok, failed or "not run") and
`OUT/summary.md` groups the points over the seed key with mean ± sample standard deviation (n - 1)
per metric.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from p2pfed.config import parse_override
from p2pfed.errors import ConfigError, P2PFedError
from p2pfed.sim import trainer

logger = logging.getLogger(__name__)

MANIFEST = "sweep.json"
SUMMARY_JSON = "summary.json"
ERRORS_LOG = "errors.log"
WORKER_LOG = "sweep.log"
SUMMARY_METRICS = ("acc_mean", "acc_p10", "local_acc_mean", "consensus", "online", "bytes_per_node")
"""Final metrics (from `summary.json["final"]`) written to summary.csv and summary.md."""

_FILE_KEYS = {"spec", "out", "seed_key", "grid"}
_KEY = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")  # dotted TOML bare keys, as `--set` takes them
_SAFE = re.compile(r"[^A-Za-z0-9._=,+\-]")
_MAX_NAME = 180

RunPoint = Callable[[Path, Sequence[str], Path], Mapping[str, Any] | None]
"""Runs one point: (base spec path, overrides, empty point folder) -> its summary (also in summary.json)."""
CheckPoint = Callable[[Path, Sequence[str]], None]
"""Validates one point's overrides before anything runs; raises ConfigError."""


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file: base spec, output folder, extra overrides and the grid."""

    path: Path  # the sweep file
    spec: Path  # base simulation spec (absolute)
    out: Path  # output folder
    grid: tuple[tuple[str, tuple[Any, ...]], ...]  # (dotted key, values) in file order
    overrides: tuple[str, ...] = ()  # extra `--set` overrides applied to every point
    seed_key: str = "sim.seed"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.grid)

    @property
    def group_keys(self) -> tuple[str, ...]:
        """Grid keys that define a group in summary.md (every key but the seed key)."""
        return tuple(k for k in self.keys if k != self.seed_key)


@dataclasses.dataclass(frozen=True)
class Point:
    """One grid point: its folder name, its values and the `--set` overrides that make it."""

    name: str
    values: tuple[tuple[str, Any], ...]
    overrides: tuple[str, ...]


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


# ---------------------------------------------------------------------------------------------
# sweep file and grid


def load_sweep(path: str | Path, overrides: Sequence[str] = (), out: str | Path | None = None) -> SweepSpec:
    """Read and validate a sweep file; `overrides` apply to every point, `out` replaces its `out`."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{p}: sweep file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise ConfigError(f"{p}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_FILE_KEYS))})")
    spec = data.get("spec")
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f'{p}: missing or empty `spec`: the base simulation spec, e.g. spec = "study.toml"')
    spec_path = (p.parent / Path(spec).expanduser()).resolve()
    if not spec_path.is_file():
        raise ConfigError(f"{p}: spec {spec!r} not found (looked for {spec_path}; relative to the sweep file)")
    out_value = data.get("out", f"runs/{p.stem}")
    if not isinstance(out_value, str) or not out_value:
        raise ConfigError(f"{p}: `out` must be a non-empty string (an output folder), got {out_value!r}")
    seed_key = data.get("seed_key", "sim.seed")
    if not isinstance(seed_key, str) or not seed_key:
        raise ConfigError(f"{p}: `seed_key` must be a dotted key such as \"sim.seed\", got {seed_key!r}")
    if "grid" not in data:
        raise ConfigError(f'{p}: missing [grid] table, e.g.\n[grid]\n"sim.seed" = [0, 1, 2]')
    if not isinstance(data["grid"], dict):
        raise ConfigError(f"{p}: `grid` must be a table of dotted key = [values]")
    grid = _flatten_grid(data["grid"], p)
    if not grid:
        raise ConfigError(f'{p}: [grid] is empty; add at least one key, e.g. "sim.seed" = [0, 1, 2]')
    for item in overrides:
        keys, _ = parse_override(item)
        key = ".".join(keys)
        if key in dict(grid):
            raise ConfigError(f"--set {item!r}: {key} is swept by the grid in {p}; remove it from --set or the grid")
    return SweepSpec(
        path=p,
        spec=spec_path,
        out=Path(out if out is not None else out_value).expanduser(),
        grid=tuple(grid),
        overrides=tuple(overrides),
        seed_key=seed_key,
    )


def _flatten_grid(table: Mapping[str, Any], path: Path, prefix: str = "") -> list[tuple[str, tuple[Any, ...]]]:
    out: list[tuple[str, tuple[Any, ...]]] = []
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flatten_grid(v, path, key + ".")
            continue
        if not _KEY.fullmatch(key):
            raise ConfigError(f"{path}: grid key {key!r} is not a dotted key such as \"sim.seed\"")
        if not isinstance(v, list):
            raise ConfigError(f"{path}: grid.{key} must be an array of values, e.g. [{toml_value(v)}], got {v!r}")
        if not v:
            raise ConfigError(f"{path}: grid.{key} is an empty array; give at least one value")
        seen: list[str] = []
        for x in v:
            lit = toml_value(x)
            if lit in seen:
                raise ConfigError(f"{path}: grid.{key} lists {lit} twice")
            seen.append(lit)
        out.append((key, tuple(v)))
    return out


def toml_value(v: Any) -> str:
    """`v` as a TOML literal that `parse_override` reads back to an equal value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_string(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, datetime):
        return v.isoformat()
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) as a TOML value")


def _toml_string(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest literal."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _name_part(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
        return "x".join(toml_value(x) for x in v) or "[]"
    if isinstance(v, list | tuple | dict):
        return json.dumps(v, separators=(",", ":"), default=str)
    return toml_value(v)


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def point_name(values: Iterable[tuple[str, Any]]) -> str:
    """A readable folder name for one point: `key=value,key=value`, file-name safe, at most 180 chars."""
    vals = list(values)
    name = _SAFE.sub("_", ",".join(f"{k}={_name_part(v)}" for k, v in vals))
    if len(name) > _MAX_NAME:
        exact = ",".join(f"{k}={toml_value(v)}" for k, v in vals)
        name = name[: _MAX_NAME - 9] + "~" + _digest(exact, 8)
    return name


def expand_grid(grid: Sequence[tuple[str, Sequence[Any]]]) -> list[Point]:
    """Every combination of the grid's values, in order (the last key varies fastest), with unique names."""
    keys = [k for k, _ in grid]
    points = []
    for combo in itertools.product(*(vals for _, vals in grid)):
        values = tuple(zip(keys, combo))
        overrides = tuple(f"{k}={toml_value(v)}" for k, v in values)
        points.append(Point(point_name(values), values, overrides))
    names = [p.name for p in points]
    if len(set(names)) < len(names):  # sanitising merged distinct values: disambiguate those by a hash
        clash = {n for n in names if names.count(n) > 1}
        points = [
            dataclasses.replace(p, name=p.name[: _MAX_NAME - 9] + "~" + _digest(",".join(p.overrides), 8))
            if p.name in clash
            else p
            for p in points
        ]
    return points


# ---------------------------------------------------------------------------------------------
# running


def run_point(spec_path: Path, overrides: Sequence[str], point_dir: Path) -> Mapping[str, Any]:
    """The real runner: load the spec with the point's overrides and simulate it into `point_dir`."""
    from p2pfed.sim.engine import run_simulation
    from p2pfed.sim.spec import load_spec

    return run_simulation(load_spec(spec_path, overrides), point_dir, progress=False)


def check_point(spec_path: Path, overrides: Sequence[str]) -> None:
    """The real check: the spec loads with the point's overrides (raises ConfigError otherwise)."""
    from p2pfed.sim.spec import load_spec

    load_spec(spec_path, overrides)


def read_summary(point_dir: Path) -> dict[str, Any] | None:
    """The point's summary.json if it exists and is a JSON object (the point is complete), else None."""
    try:
        data = json.loads((point_dir / SUMMARY_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_sweep(
    sweep: SweepSpec,
    *,
    jobs: int = 0,
    run_point: RunPoint = run_point,
    check_point: CheckPoint | None = check_point,
    on_start: Callable[[int, int], None] | None = None,
    on_result: Callable[[PointResult], None] | None = None,
) -> SweepResult:
    """Run every point not yet complete, `jobs` at a time (0: one per core), and write the summaries.

    With one worker (`jobs=1`, one core, or one point left) the points run one after another in
    this process; otherwise in a pool of fresh ("spawn") processes, so `run_point` must then be a
    module-level function. `on_start(total, to_run)` is called once before running, `on_result`
    after each point (skipped ones first). Raises ConfigError before anything runs or is written
    if `check_point` refuses a point; a point that fails while running is recorded in the result,
    in errors.log (rewritten on every call: this call's failures) and in the summaries.
    """
    if jobs < 0:
        raise ConfigError(f"--jobs {jobs}: expected the number of points to run at once (0 = one per core)")
    points = expand_grid(sweep.grid)
    _check_manifest(sweep)
    results: dict[str, PointResult] = {}
    pending: list[Point] = []
    for pt in points:
        summary = read_summary(sweep.out / pt.name)
        if summary is not None:
            results[pt.name] = PointResult(pt, "skipped", summary)
        else:
            pending.append(pt)
    if check_point is not None:
        for pt in pending:
            try:
                check_point(sweep.spec, sweep.overrides + pt.overrides)
            except P2PFedError as e:
                raise ConfigError(f"sweep point {pt.name}: {e}") from None
    sweep.out.mkdir(parents=True, exist_ok=True)
    _write_manifest(sweep, points)
    errors_log = sweep.out / ERRORS_LOG
    errors_log.unlink(missing_ok=True)
    if on_start:
        on_start(len(points), len(pending))
    if on_result:
        for pt in points:
            if pt.name in results:
                on_result(results[pt.name])

    def record(res: PointResult, detail: str = "") -> None:
        results[res.point.name] = res
        if res.status == "failed":
            _log_error(errors_log, res, detail)
        if on_result:
            on_result(res)

    workers = min(jobs or trainer.available_cpus(), len(pending))
    try:
        if workers <= 1:
            for pt in pending:
                record(*_execute(run_point, sweep.spec, sweep.overrides, pt, sweep.out))
        else:
            _run_pool(sweep, pending, workers, run_point, record)
    finally:  # also on Ctrl-C: the summaries then list the points not run yet
        ordered = tuple(results.get(p.name) or PointResult(p, "pending") for p in points)
        csv_path, md_path = write_summaries(sweep, ordered)
    return SweepResult(ordered, csv_path, md_path)


def _run_pool(
    sweep: SweepSpec,
    pending: list[Point],
    jobs: int,
    runner: RunPoint,
    record: Callable[..., None],
) -> None:
    ctx = multiprocessing.get_context("spawn")  # no fork: the parent may hold threads (progress bar, torch)
    pool = ProcessPoolExecutor(
        jobs, mp_context=ctx, initializer=_init_worker, initargs=(str(sweep.out / WORKER_LOG), jobs)
    )
    futures: dict[Future[tuple[PointResult, str]], Point] = {}
    try:
        for pt in pending:
            futures[pool.submit(_execute, runner, sweep.spec, sweep.overrides, pt, sweep.out)] = pt
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for fut in done:
                pt = futures[fut]
                try:
                    record(*fut.result())
                except BrokenProcessPool:
                    msg = "a worker process died (crash or out of memory) while this point was queued or running"
                    record(PointResult(pt, "failed", error=msg), msg + "; rerun the sweep to retry it")
                except Exception as e:  # the runner or its result could not be pickled
                    record(PointResult(pt, "failed", error=f"{type(e).__name__}: {e}"), traceback.format_exc())
    except BaseException:  # Ctrl-C: stop the points running now instead of waiting for them
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _init_worker(log_file: str, jobs: int = 1) -> None:
    """Worker processes log warnings to OUT/sweep.log instead of writing over the progress bar.

    They also share the CPUs among the `jobs` points running at once, so `sim.train_process =
    "auto"` does not fork a training process per point on a machine the sweep already fills.
    """
    trainer.share_cpus(jobs)
    logging.basicConfig(
        filename=log_file,
        level=logging.WARNING,
        format="%(asctime)s %(levelname)-7s [pid %(process)d] %(name)s: %(message)s",
    )


def _execute(
    runner: RunPoint, spec: Path, base: tuple[str, ...], pt: Point, out: Path
) -> tuple[PointResult, str]:
    """Run one point into a fresh folder; never raises (returns a failed result with the traceback)."""
    start = time.monotonic()
    point_dir = out / pt.name
    try:
        if point_dir.exists():  # half-written by an interrupted or failed run: start over
            shutil.rmtree(point_dir)
        point_dir.mkdir(parents=True)
        returned = runner(spec, base + pt.overrides, point_dir)
        summary = read_summary(point_dir)
        if summary is None:
            if not isinstance(returned, Mapping):
                got = type(returned).__name__
                raise RuntimeError(f"the runner wrote no {SUMMARY_JSON} and returned {got}, not a summary")
            write_atomic(point_dir / SUMMARY_JSON, json.dumps(dict(returned), indent=2, default=str) + "\n")
            summary = read_summary(point_dir)
        return PointResult(pt, "done", summary, seconds=time.monotonic() - start), ""
    except Exception as e:
        msg = str(e) if isinstance(e, P2PFedError) else f"{type(e).__name__}: {e}"
        return PointResult(pt, "failed", error=msg, seconds=time.monotonic() - start), traceback.format_exc()


def _log_error(path: Path, res: PointResult, detail: str) -> None:
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with path.open("a", encoding="utf-8") as f:
        f.write(f"=== {stamp} {res.point.name}\noverrides: {' '.join(res.point.overrides)}\nerror: {res.error}\n")
        if detail:
            f.write(detail.rstrip() + "\n")
        f.write("\n")


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _spec_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_manifest(sweep: SweepSpec) -> None:
    path = sweep.out / MANIFEST
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("%s is unreadable; it will be rewritten", path)
        return
    if old.get("spec") != str(sweep.spec) or list(old.get("set", [])) != list(sweep.overrides):
        raise ConfigError(
            f"{sweep.out} holds a sweep of spec {old.get('spec')} with --set {old.get('set')}, not of "
            f"{sweep.spec} with --set {list(sweep.overrides)}: its completed points would be mixed in. "
            "Use another --out, or delete that folder to start over"
        )
    if old.get("spec_sha256") != _spec_digest(sweep.spec):
        logger.warning(
            "%s changed since points in %s were run; completed points keep the results of the old spec",
            sweep.spec,
            sweep.out,
        )


def _write_manifest(sweep: SweepSpec, points: Sequence[Point]) -> None:
    doc = {
        "sweep": str(sweep.path.resolve()),
        "spec": str(sweep.spec),
        "spec_sha256": _spec_digest(sweep.spec),
        "set": list(sweep.overrides),
        "seed_key": sweep.seed_key,
        "grid": {k: list(v) for k, v in sweep.grid},
        "points": [{"name": p.name, "values": dict(p.values), "overrides": list(p.overrides)} for p in points],
    }
    write_atomic(sweep.out / MANIFEST, json.dumps(doc, indent=2, default=str) + "\n")


# ---------------------------------------------------------------------------------------------
# summaries


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
