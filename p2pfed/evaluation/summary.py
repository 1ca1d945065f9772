"""Summaries of a `p2pfed launch` run from the nodes' final metrics: summary.json, summary.md, comparison rows."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
SUMMARY_MD = "summary.md"


def _stats(values: list[float | None]) -> dict[str, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return {"mean": None, "min": None, "max": None}
    return {"mean": float(np.mean(vals)), "min": float(np.min(vals)), "max": float(np.max(vals))}


def summarize(
    final: Mapping[str, Mapping[str, Any]],
    baselines: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Summary of a run from each node's final metrics record (and optional baselines)."""
    nodes = sorted(final)
    rejections: Counter[str] = Counter()
    for rec in final.values():
        rejections.update(rec.get("rejections") or {})
    summary: dict[str, Any] = {
        "run": dict(run or {}),
        "nodes": len(nodes),
        "gossip": {
            "heldout_acc": _stats([final[n].get("heldout_acc") for n in nodes]),
            "local_acc": _stats([final[n].get("local_acc") for n in nodes]),
            "exchanges": int(sum(final[n].get("exchanges", 0) for n in nodes)),
            "bytes_out": int(sum(final[n].get("bytes_out", 0) for n in nodes)),
            "train_steps": int(sum(final[n].get("train_steps", 0) for n in nodes)),
            "rejections": dict(sorted(rejections.items())),
        },
        "per_node": {n: {k: final[n].get(k) for k in _NODE_KEYS} for n in nodes},
    }
    if baselines:
        summary["baselines"] = dict(baselines)
    return summary


_NODE_KEYS = ("local_acc", "heldout_acc", "exchanges", "train_steps", "bytes_out", "timeouts", "alive", "rejections", "elapsed")


def pct(v: float | None) -> str:
    """An accuracy as a percentage with one decimal, "n/a" when missing."""
    return "n/a" if v is None else f"{100 * v:.1f}%"


def comparison_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(method, held-out people accuracy, own held-out rows accuracy) rows."""
    g = summary["gossip"]
    rows = [
        (
            "gossip (p2pfed, mean over nodes)",
            f"{pct(g['heldout_acc']['mean'])} (min {pct(g['heldout_acc']['min'])})",
            pct(g["local_acc"]["mean"]),
        )
    ]
    b = summary.get("baselines")
    if b:
        rows.append(("each node alone (local-only)", pct(b["local_only"]["heldout_acc"]), pct(b["local_only"]["local_acc"])))
        rows.append(("one model on everyone's data (central)", pct(b["central"]["heldout_acc"]), pct(b["central"]["local_acc"])))
    return rows


def verdict(summary: Mapping[str, Any]) -> str:
    """One line comparing gossip with the baselines on held-out people."""
    b = summary.get("baselines")
    g = summary["gossip"]["heldout_acc"]["mean"]
    if not b or g is None or b["central"]["heldout_acc"] is None:
        return ""
    lo, ce = b["local_only"]["heldout_acc"], b["central"]["heldout_acc"]
    vs_local = f"{100 * (g - lo):+.1f} points over local-only training"
    gap = 100 * (ce - g)
    vs_central = f"{gap:.1f} points below central training" if gap > 0.05 else f"level with central training ({-gap:+.1f} points)"
    return f"gossip: {vs_local}, {vs_central}; no server, and no data left any node"


def to_markdown(summary: Mapping[str, Any]) -> str:
    """summary.md: the comparison table, the verdict and one row per node."""
    lines = ["# p2pfed run summary", ""]
    run = summary.get("run", {})
    if run:
        lines += [", ".join(f"{k}: {v}" for k, v in run.items()), ""]
    lines += ["| method | accuracy on held-out people | accuracy on own held-out data |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in comparison_rows(summary)]
    v = verdict(summary)
    if v:
        lines += ["", v + "."]
    g = summary["gossip"]
    lines += [
        "",
        f"Exchanges: {g['exchanges']}, bytes sent: {g['bytes_out']:,}, local steps: {g['train_steps']}, "
        f"rejected messages: {sum(g['rejections'].values())} {g['rejections'] or ''}",
        "",
        "| node | held-out people | own data | exchanges | steps | rejected |",
        "|---|---|---|---|---|---|",
    ]
    for n, r in summary["per_node"].items():
        rej = sum((r.get("rejections") or {}).values())
        lines.append(f"| {n} | {pct(r['heldout_acc'])} | {pct(r['local_acc'])} | {r['exchanges']} | {r['train_steps']} | {rej} |")
    return "\n".join(lines) + "\n"


def write_summary(run_dir: str | Path, summary: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write RUN/summary.json and RUN/summary.md; returns their paths."""
    d = Path(run_dir)
    j, m = d / SUMMARY_FILE, d / SUMMARY_MD
    j.write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    m.write_text(to_markdown(summary))
    return j, m


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """RUN/summary.json (of a launch or a simulation); None if absent, unreadable (logged) or not an object."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        log.warning("ignoring %s: %s", path, e)
        return None
    return doc if isinstance(doc, dict) else None
