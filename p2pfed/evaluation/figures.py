"""Figures of the run report: row-normalised confusion matrices and accuracy over time, as PNGs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from p2pfed.node.metrics import read_jsonl


def _normalised(cm: np.ndarray) -> np.ndarray:
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)


def plot_confusion(evaluation: Mapping[str, Any], path: str | Path) -> Path:
    """Row-normalised confusion matrices (held-out people, and own held-out data) as a PNG."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state

    names = list(evaluation["label_names"])
    panels = []
    if evaluation.get("heldout"):
        panels.append(("held-out people (all nodes' models)", evaluation["heldout"]["pooled"]["confusion"]))
    panels.append(("own held-out data (each node's model)", evaluation["local"]["pooled"]["confusion"]))
    n = len(names)
    size = max(3.2, 0.55 * n + 1.6)
    fig = Figure(figsize=(size * len(panels) + 0.6, size + 0.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    im = None
    for ax, (title, cm) in zip(axes, panels):
        norm = _normalised(np.asarray(cm, dtype=np.float64))
        im = ax.imshow(norm, vmin=0.0, vmax=1.0, cmap="Blues")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if n <= 15:
            for i in range(n):
                for j in range(n):
                    v = norm[i, j]
                    color = "white" if v > 0.6 else "black"
                    ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=6, color=color)
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.8, label="share of the true class")
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out


def accuracy_series(run_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Accuracy over time of a run: {label: (t, value)}; empty when the run recorded none.

    Reads RUN/metrics.jsonl records with ``t`` and ``acc*`` keys (e.g. the simulator's
    ``acc_mean``), else the nodes' state/*/metrics.jsonl (``elapsed``, ``heldout_acc``,
    ``local_acc``), averaged over nodes per whole second.
    """
    run_dir = Path(run_dir)
    recs = [r for r in read_jsonl(run_dir / "metrics.jsonl") if isinstance(r.get("t"), int | float)]
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if recs:
        keys = sorted({k for r in recs for k, v in r.items() if "acc" in k and isinstance(v, int | float)})
        for k in keys:
            pts = [(float(r["t"]), float(r[k])) for r in recs if isinstance(r.get(k), int | float)]
            if pts:
                t, v = np.array(pts).T
                series[k] = (t, v)
        return series
    bins: dict[str, dict[int, list[float]]] = {"heldout_acc": {}, "local_acc": {}}
    for f in sorted((run_dir / "state").glob("*/metrics.jsonl")) if (run_dir / "state").is_dir() else []:
        for r in read_jsonl(f):
            t = r.get("elapsed")
            if not isinstance(t, int | float):
                continue
            for k, b in bins.items():
                v = r.get(k)
                if isinstance(v, int | float) and math.isfinite(v):
                    b.setdefault(int(t), []).append(float(v))
    labels = {"heldout_acc": "held-out people (mean over nodes)", "local_acc": "own held-out data (mean over nodes)"}
    for k, b in bins.items():
        if b:
            t = np.array(sorted(b), dtype=np.float64)
            series[labels[k]] = (t, np.array([np.mean(b[int(s)]) for s in t]))
    return series


def plot_accuracy(series: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> Path:
    """Accuracy over time (one line per series) as a PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.4), layout="constrained")
    ax = fig.subplots()
    for label, (t, v) in series.items():
        ax.plot(t, 100 * np.asarray(v), label=label, linewidth=1.4)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out
