"""Running a sweep's points: in this process or a process pool, resumably, with sweep.json and errors.log."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from p2pfed.errors import ConfigError, P2PFedError
from p2pfed.sim import trainer
from p2pfed.sim.sweep.grid import Point, SweepSpec, expand_grid
from p2pfed.sim.sweep.results import ERRORS_LOG, PointResult, SweepResult, write_atomic, write_summaries

logger = logging.getLogger(__package__)  # "p2pfed.sim.sweep", as before the module became a package

MANIFEST = "sweep.json"
SUMMARY_JSON = "summary.json"
WORKER_LOG = "sweep.log"

RunPoint = Callable[[Path, Sequence[str], Path], Mapping[str, Any] | None]
"""Runs one point: (base spec path, overrides, empty point folder) -> its summary (also in summary.json)."""
CheckPoint = Callable[[Path, Sequence[str]], None]
"""Validates one point's overrides before anything runs; raises ConfigError."""


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
