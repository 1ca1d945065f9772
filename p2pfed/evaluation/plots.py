"""Figures of simulation runs: one panel per metric against virtual time, runs or sweep groups overlaid."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from p2pfed.errors import ConfigError, DataError
from p2pfed.node.metrics import read_jsonl

if TYPE_CHECKING:  # matplotlib is imported only when drawing (Agg canvas only), so `p2pfed --help` stays fast
    from matplotlib.figure import Figure

METRICS_FILE = "metrics.jsonl"
SPEC_FILE = "spec.toml"
SWEEP_MANIFEST = "sweep.json"  # written by p2pfed.sim.sweep
DEFAULT_METRICS = ("acc_mean", "consensus", "bytes_per_node", "online")
FORMATS = (".png", ".pdf", ".svg")


@dataclasses.dataclass(frozen=True)
class Panel:
    """How one metric is drawn: axis label, scale and unit, and a dashed companion metric."""

    label: str
    log: bool = False
    unit: str = ""  # "fraction" (shown as %), "bytes", or "" (plain numbers)
    dashed: str = ""  # drawn dashed in the same colour (e.g. the worst 10 % next to the mean)


PANELS: dict[str, Panel] = {
    "acc_mean": Panel(
        "accuracy on held-out users\n(solid: mean, dashed: worst 10 %)", unit="fraction", dashed="acc_p10"
    ),
    "acc_median": Panel("accuracy on held-out users (median)", unit="fraction"),
    "acc_p10": Panel("accuracy on held-out users (worst 10 %)", unit="fraction"),
    "local_acc_mean": Panel("accuracy on own held-out data (mean)", unit="fraction"),
    "consensus": Panel("consensus distance\n(mean L2 to the average model)", log=True),
    "online": Panel("nodes online", unit="fraction"),
    "msgs_per_node": Panel("messages sent per node"),
    "bytes_per_node": Panel("bytes sent per node", unit="bytes"),
    "age_mean": Panel("model age (local steps)"),
    "staleness": Panel("seconds since last merge"),
    "rejections": Panel("rejected messages"),
}
"""The metrics `p2pfed plot` knows how to draw; other numeric keys of the records are drawn plainly."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One run folder: its metrics records and its parameters (flattened spec.toml, sweep values)."""

    path: Path
    records: tuple[Mapping[str, Any], ...]
    params: Mapping[str, Any]
    sweep: Path | None = None  # the sweep folder it came from
    sweep_keys: tuple[str, ...] = ()  # that sweep's grid keys without its seed key


@dataclasses.dataclass(frozen=True)
class Line:
    """One legend entry: a run, or several runs averaged (mean line, ± std band)."""

    label: str
    runs: tuple[Run, ...]


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested TOML table as {dotted key: value}."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _read_spec(run_dir: Path) -> dict[str, Any]:
    path = run_dir / SPEC_FILE
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            return flatten(tomllib.load(f))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DataError(f"{path}: cannot read the run's spec: {e}") from None


def load_run(run_dir: Path, extra: Mapping[str, Any] | None = None) -> Run:
    """A run folder's metrics.jsonl and spec; DataError if it is missing or holds no records."""
    metrics = run_dir / METRICS_FILE
    if not metrics.is_file():
        raise DataError(f"{run_dir}: no {METRICS_FILE}; is this a simulation run folder?")
    records = [r for r in read_jsonl(metrics) if isinstance(r, dict) and _num(r.get("t")) is not None]
    if not records:
        raise DataError(f"{metrics}: no metrics records with a time `t` (did the run start?)")
    records.sort(key=lambda r: r["t"])
    return Run(run_dir, tuple(records), {**_read_spec(run_dir), **(extra or {})})


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Runs from run folders and sweep folders (every completed point of a sweep with metrics)."""
    if not paths:
        raise ConfigError("give at least one run folder or sweep folder")
    runs: list[Run] = []
    for p in map(Path, paths):
        if not p.exists():
            raise DataError(f"{p}: no such run or sweep folder")
        if (p / METRICS_FILE).exists():
            runs.append(load_run(p))
        elif (p / SWEEP_MANIFEST).exists():
            runs += _load_sweep(p)
        else:
            raise DataError(f"{p}: neither a run folder (no {METRICS_FILE}) nor a sweep folder (no {SWEEP_MANIFEST})")
    return runs


def _load_sweep(path: Path) -> list[Run]:
    try:
        doc = json.loads((path / SWEEP_MANIFEST).read_text(encoding="utf-8"))
        points = [(str(pt["name"]), dict(pt["values"])) for pt in doc["points"]]
        seed_key = str(doc.get("seed_key", "sim.seed"))
        keys = tuple(k for k in doc["grid"] if k != seed_key)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path / SWEEP_MANIFEST}: not a sweep manifest ({e})") from None
    runs = []
    for name, values in points:
        d = path / name
        if (d / METRICS_FILE).exists():
            try:
                run = load_run(d, values)
            except DataError:
                continue  # a point that has not written a record yet
            runs.append(dataclasses.replace(run, sweep=path, sweep_keys=keys))
    if not runs:
        raise DataError(f"{path}: no point of this sweep has metrics yet")
    return runs


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    return str(v)


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each dotted key's last part, or the full key where last parts clash."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def differing_keys(runs: Sequence[Run]) -> list[str]:
    """Parameter keys whose value is not the same in every run (missing counts as a value)."""
    keys: list[str] = []
    for r in runs:
        keys += [k for k in r.params if k not in keys]
    def value(r: Run, k: str) -> str:
        return json.dumps(r.params[k], default=str) if k in r.params else "\0missing"

    return [k for k in keys if len({value(r, k) for r in runs}) > 1]


def _label(values: Mapping[str, Any]) -> str:
    short = short_keys(list(values))
    return ", ".join(f"{short[k]}={_fmt(v)}" for k, v in values.items())


def make_lines(runs: Sequence[Run], group_by: Sequence[str] | None = None) -> list[Line]:
    """Legend entries for `runs`.

    With `group_by` keys, runs with equal values of those keys form one line (averaged). Without,
    every plain run is a line of its own, labelled by the spec keys that differ between runs (at
    most three; else the folder name), and each sweep's runs are grouped by its grid keys except
    its seed key.
    """
    if group_by is not None:
        for r in runs:
            miss = [k for k in group_by if k not in r.params]
            if miss:
                raise ConfigError(
                    f"--group-by {','.join(group_by)}: run {r.path} has no {', '.join(miss)} in its {SPEC_FILE}"
                )
        return _group(runs, list(group_by), prefix="")
    lines: list[Line] = []
    plain = [r for r in runs if r.sweep is None]
    diff = differing_keys(plain) if len(plain) > 1 else []
    names = [r.path.name for r in plain]
    for r in plain:
        if diff and len(diff) <= 3:
            label = _label({k: r.params.get(k, "-") for k in diff})
        else:
            label = r.path.name if names.count(r.path.name) == 1 else f"{r.path.parent.name}/{r.path.name}"
        lines.append(Line(label, (r,)))
    sweeps = list(dict.fromkeys(r.sweep for r in runs if r.sweep is not None))
    for s in sweeps:
        members = [r for r in runs if r.sweep == s]
        prefix = f"{s.name}: " if len(sweeps) > 1 or plain else ""
        lines += _group(members, list(members[0].sweep_keys), prefix)
    return lines


def _group(runs: Sequence[Run], keys: list[str], prefix: str) -> list[Line]:
    groups: dict[str, list[Run]] = {}
    values: dict[str, dict[str, Any]] = {}
    for r in runs:
        vals = {k: r.params[k] for k in keys}
        ident = json.dumps(vals, sort_keys=True, default=str)
        groups.setdefault(ident, []).append(r)
        values[ident] = vals
    lines = []
    for ident, members in groups.items():
        label = _label(values[ident]) or (members[0].sweep.name if members[0].sweep else "all runs")
        if len(members) > 1:
            label += f" (n={len(members)})"
        lines.append(Line(prefix + label, tuple(members)))
    return lines


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def series(run: Run, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(t, value) of one metric over a run; NaN where the value is null or not a number."""
    t = np.array([float(r["t"]) for r in run.records])
    v = np.array([np.nan if (x := _num(r.get(metric))) is None else x for r in run.records])
    return t, v


def aggregate(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and sample std (n - 1) of several (t, value) curves on the union of their times.

    Each curve is linearly interpolated onto that grid; a curve counts only within its own time
    span, and a null value leaves a gap. Where fewer than two curves have a value the std is 0.
    """
    grid = np.unique(np.concatenate([t for t, _ in curves]))
    stack = np.full((len(curves), len(grid)), np.nan)
    for i, (t, v) in enumerate(curves):
        inside = (grid >= t[0]) & (grid <= t[-1])
        stack[i, inside] = np.interp(grid[inside], t, v)  # NaN neighbours propagate: gaps stay gaps
    ok = np.isfinite(stack)
    n = ok.sum(axis=0)
    total = np.where(ok, stack, 0.0).sum(axis=0)
    mean = np.divide(total, n, out=np.full(len(grid), np.nan), where=n > 0)
    dev = np.where(ok, stack - mean, 0.0)
    var = np.divide((dev**2).sum(axis=0), n - 1, out=np.zeros(len(grid)), where=n > 1)
    return grid, mean, np.sqrt(var)


def time_unit(t_max: float) -> tuple[float, str]:
    """(seconds per unit, unit name) that keeps a virtual-time axis readable up to `t_max` seconds."""
    if t_max <= 300:
        return 1.0, "s"
    if t_max <= 3 * 3600:
        return 60.0, "min"
    if t_max <= 3 * 86400:
        return 3600.0, "h"
    return 86400.0, "days"


def _bytes(x: float, _pos: Any = None) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(x) >= div:
            return f"{x / div:g} {unit}"
    return f"{x:g} B"


def check_metrics(metrics: Sequence[str], runs: Sequence[Run]) -> None:
    """ConfigError unless every name is a known metric or a numeric key of some record."""
    if not metrics:
        raise ConfigError(f"--metrics is empty; choose from {', '.join(PANELS)}")
    seen = {k for r in runs for rec in r.records for k, v in rec.items() if _num(v) is not None} - {"t"}
    unknown = [m for m in metrics if m not in PANELS and m not in seen]
    if unknown:
        extra = sorted(seen - set(PANELS))
        raise ConfigError(
            f"--metrics: unknown metric(s) {', '.join(unknown)}; known: {', '.join(PANELS)}"
            + (f"; also in these runs: {', '.join(extra)}" if extra else "")
        )


def plot_runs(
    paths: Sequence[str | Path],
    out: str | Path,
    metrics: Sequence[str] = DEFAULT_METRICS,
    labels: Sequence[str] | None = None,
    title: str = "",
    group_by: Sequence[str] | None = None,
) -> Path:
    """Draw `metrics` of the runs (or sweeps) in `paths` against virtual time into `out`; returns it.

    The format follows the suffix of `out` (.png, .pdf, .svg). `labels` replace the legend
    labels, one per line (see `make_lines`). Raises DataError for missing or empty runs and
    ConfigError for unknown metrics, a wrong number of labels or an unknown format.
    """
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"{out}: unsupported figure format {out.suffix or '(none)'}; use one of {', '.join(FORMATS)}")
    runs = load_runs(paths)
    metrics = list(metrics)
    check_metrics(metrics, runs)
    lines = make_lines(runs, group_by)
    if labels is not None:
        if len(labels) != len(lines):
            raise ConfigError(
                f"--labels: {len(labels)} label(s) for {len(lines)} line(s) ({'; '.join(ln.label for ln in lines)})"
            )
        lines = [dataclasses.replace(ln, label=lab) for ln, lab in zip(lines, labels)]
    fig = draw(lines, metrics, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out


def draw(lines: Sequence[Line], metrics: Sequence[str], title: str = "") -> Figure:
    """The figure: a grid of panels (two columns) sharing the time axis, one legend below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg only: never a display
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    t_max = max(float(r.records[-1]["t"]) for ln in lines for r in ln.runs)
    div, unit = time_unit(t_max)
    ncols = 1 if len(metrics) == 1 else 2
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(6.0 * ncols, 3.2 * nrows + 0.4 + 0.25 * math.ceil(len(lines) / 3)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
    colors = [f"C{i % 10}" for i in range(len(lines))]
    for ax, metric in zip(axes, metrics):
        _panel(ax, metric, lines, colors, div)
        ax.set_xlabel(f"virtual time ({unit})")
        ax.xaxis.set_tick_params(labelbottom=True)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=c, label=ln.label) for ln, c in zip(lines, colors)]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(3, len(lines)), frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def _panel(ax: Any, metric: str, lines: Sequence[Line], colors: Sequence[str], div: float) -> None:
    panel = PANELS.get(metric, Panel(metric))
    drawn: list[np.ndarray] = []
    for ln, color in zip(lines, colors):
        for m, style in ((metric, "-"), (panel.dashed, "--")):
            if not m:
                continue
            curves = [series(r, m) for r in ln.runs]
            curves = [c for c in curves if np.isfinite(c[1]).any()]
            if not curves:
                continue
            t, mean, std = (*curves[0], np.zeros(len(curves[0][0]))) if len(curves) == 1 else aggregate(curves)
            if panel.log:
                mean = np.where(mean > 0, mean, np.nan)
            few = np.isfinite(mean).sum() < 3  # too few samples for a visible line: mark them
            width = 1.5 if style == "-" else 1.1
            ax.plot(t / div, mean, style, color=color, linewidth=width, marker="o" if few else None, markersize=3)
            drawn.append(mean)
            if len(curves) > 1 and style == "-" and np.any(std > 0):
                lo, hi = mean - std, mean + std
                if panel.log:  # keep the band on the positive axis
                    lo = np.where(lo > 0, lo, mean / 2)
                ax.fill_between(t / div, lo, hi, color=color, alpha=0.18, linewidth=0)
    ax.set_ylabel(panel.label)
    ax.grid(True, alpha=0.3)
    values = np.concatenate(drawn) if drawn else np.array([])
    if not np.isfinite(values).any():
        note = f"no {metric} values in these runs"
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", color="grey")
        return
    if panel.log and np.nanmax(values) > 0:
        ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    if panel.unit == "fraction":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif panel.unit == "bytes":
        ax.yaxis.set_major_formatter(FuncFormatter(_bytes))
