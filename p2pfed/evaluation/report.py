"""Reports of a run: launch summaries (JSON, Markdown, table) and the evaluated one-page report."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from p2pfed.config import load_node_config
from p2pfed.data import load_heldout, load_local
from p2pfed.errors import DataError, P2PFedError, StateError
from p2pfed.evaluation.scoring import (
    EVALUATION_FILE,
    NodeOutcome,
    distribution,
    evaluate_run,
    read_evaluation,
    write_evaluation,
)
from p2pfed.node.metrics import read_jsonl
from p2pfed.learning.factory import make_learner
from p2pfed.node.state import load_state
from p2pfed.learning.base import Learner
from p2pfed.types import LocalData, Split

log = logging.getLogger(__name__)


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
    d = Path(run_dir)
    j, m = d / "summary.json", d / "summary.md"
    j.write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    m.write_text(to_markdown(summary))
    return j, m


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------------------------------------
# `p2pfed report RUN`: the evaluation document and a one-page Markdown report with figures
# ---------------------------------------------------------------------------------------------

REPORT_FILE = "report.md"
CONFUSION_PNG = "confusion.png"
ACCURACY_PNG = "accuracy.png"


@dataclass(frozen=True)
class ReportFiles:
    """What `write_report` wrote."""

    markdown: Path
    confusion: Path | None
    accuracy: Path | None
    evaluation: Path
    computed: bool  # True if evaluation.json was computed from the run's saved models just now


def is_launch_run(run_dir: Path) -> bool:
    """A folder written by `p2pfed launch`: node configs in nodes/ and node state in state/."""
    nodes = run_dir / "nodes"
    return nodes.is_dir() and (run_dir / "state").is_dir() and any(nodes.glob("*.toml"))


def _check_run_dir(run_dir: Path) -> None:
    if not run_dir.exists():
        raise DataError(f"{run_dir}: no such run directory")
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: not a directory; pass the run folder (e.g. runs/20250101-120000)")
    if not ((run_dir / EVALUATION_FILE).is_file() or is_launch_run(run_dir)):
        raise DataError(
            f"{run_dir} is not a run directory: it has no {EVALUATION_FILE} and is not a "
            "`p2pfed launch` folder (nodes/*.toml and state/)"
        )


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        log.warning("ignoring %s: %s", path, e)
        return None
    return doc if isinstance(doc, dict) else None


def _group_of(data: LocalData) -> str:
    meta = data.meta
    if meta.get("archetypes"):
        return "+".join(str(a) for a in meta["archetypes"])  # type: ignore[union-attr]
    if meta.get("subjects"):
        return "+".join(f"subject {s}" for s in meta["subjects"])  # type: ignore[union-attr]
    if meta.get("users"):
        return "+".join(f"user {u}" for u in meta["users"])  # type: ignore[union-attr]
    return ""


def evaluate_launch_run(run_dir: str | Path, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate a `p2pfed launch` run from what its nodes saved: the evaluation document.

    Each node's data and learner are rebuilt from its config in nodes/ (the node's own rows,
    split and standardized exactly as the node did; personalisation as configured) and its last
    checkpointed model (state/<id>/state.npz, with the local head of personalize = "head") is
    scored on its own held-out rows and on the held-out people. Nodes that never checkpointed
    are skipped with a warning. For personalize = "finetune" runs the shared, not fine-tuned
    models are evaluated too, under the key ``"shared_model"``. Baselines recorded in
    summary.json are attached under ``"baselines"``.

    Like the baselines, this is an experimenter's tool: it reads every node's data in one process.
    """
    from p2pfed.learning.batches import node_seed

    run_dir = Path(run_dir)
    _check_run_dir(run_dir)
    if not is_launch_run(run_dir):
        raise DataError(f"{run_dir} is not a `p2pfed launch` folder (nodes/*.toml and state/)")
    say = progress or (lambda _m: None)
    outcomes: list[NodeOutcome] = []
    shared: list[NodeOutcome] = []
    heldout: Split | None = None
    info: LocalData | None = None
    configs = sorted((run_dir / "nodes").glob("*.toml"))
    for i, path in enumerate(configs):
        cfg = load_node_config(path)
        node_id = cfg.node.id
        say(f"evaluating {node_id} ({i + 1}/{len(configs)})")
        data = load_local(cfg.data)
        if info is None:
            info = data
            heldout = load_heldout(cfg.data)
        elif data.n_classes != info.n_classes or data.input_shape != info.input_shape:
            raise DataError(f"{path}: node {node_id}'s data does not match the other nodes' (classes, shape)")
        m = cfg.model
        learner = make_learner(m, data, seed=node_seed(node_id, m.train_seed), threads=1)
        try:
            state = load_state(cfg.node.state_dir, node_id, learner.manifest.schema)
        except StateError as e:
            raise StateError(f"cannot evaluate {node_id} with the model its config describes: {e}") from None
        if state is None:
            log.warning("%s has no saved state in %s; left out of the evaluation", node_id, cfg.node.state_dir)
            continue
        if hasattr(learner, "load_state_arrays"):
            learner.load_state_arrays(state.optimizer)  # the local head of personalize = "head"
        group = _group_of(data)
        outcomes.append(_outcome(learner, node_id, group, state.params, data, heldout))
        if m.personalize == "finetune":
            inner = learner.inner  # type: ignore[attr-defined]  # the PersonalLearner's plain model
            shared.append(_outcome(inner, node_id, group, state.params, data, heldout))
    if not outcomes or info is None:
        raise DataError(f"{run_dir}: no node has saved a model in state/<id>/state.npz yet")
    extra: dict[str, Any] = {"source": {"kind": "launch", "nodes_evaluated": len(outcomes), "nodes": len(configs)}}
    names = list(info.label_names) or [str(c) for c in range(info.n_classes)]
    if shared:
        extra["shared_model"] = evaluate_run(shared, heldout, info.n_classes, names)
    summary = _read_json(run_dir / "summary.json")
    if summary and summary.get("baselines"):
        extra["baselines"] = summary["baselines"]
    return evaluate_run(outcomes, heldout, info.n_classes, names, extra=extra)


def _outcome(
    learner: Learner, node_id: str, group: str, params: np.ndarray, data: LocalData, heldout: Split | None
) -> NodeOutcome:
    return NodeOutcome(
        node=node_id,
        group=group,
        local_true=data.test.y,
        local_pred=learner.predict(params, data.test.X),
        heldout_pred=learner.predict(params, heldout.X) if heldout is not None else None,
    )


def load_or_evaluate(
    run_dir: str | Path, recompute: bool = False, progress: Callable[[str], None] | None = None
) -> tuple[dict[str, Any], bool]:
    """RUN/evaluation.json, computing (and writing) it first for a launch run without one.

    Returns the evaluation and whether it was computed now.
    """
    run_dir = Path(run_dir)
    _check_run_dir(run_dir)
    if (run_dir / EVALUATION_FILE).is_file() and not (recompute and is_launch_run(run_dir)):
        return read_evaluation(run_dir), False
    if not is_launch_run(run_dir):
        raise DataError(f"{run_dir}: --recompute needs a `p2pfed launch` folder (nodes/*.toml and state/)")
    evaluation = evaluate_launch_run(run_dir, progress)
    write_evaluation(run_dir, evaluation)
    return evaluation, True


# --- baselines, in whichever shape they were recorded -------------------------------------------


def _dist_from_values(values: Sequence[Any]) -> dict[str, Any] | None:
    vals = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return distribution(vals) if vals else None


def _headline(doc: Mapping[str, Any]) -> dict[str, Any]:
    """held-out mean/median/worst10/macro-F1 and local mean/worst10 of an evaluation-like entry.

    Accepts an evaluation document (``heldout``/``local`` with ``distribution``), or a summary
    baseline (``heldout_acc``/``local_acc`` numbers, optional ``per_node`` list or
    ``per_node_local_acc`` map).
    """
    out: dict[str, Any] = dict.fromkeys(("h_mean", "h_median", "h_worst", "h_f1", "l_mean", "l_worst"))
    held, local = doc.get("heldout"), doc.get("local")
    if isinstance(local, Mapping) and "distribution" in local:
        ld = local["distribution"]
        out.update(l_mean=ld.get("mean"), l_worst=ld.get("worst10"))
        if isinstance(held, Mapping):
            hd = held["distribution"]
            out.update(
                h_mean=hd.get("mean"),
                h_median=hd.get("median"),
                h_worst=hd.get("worst10"),
                h_f1=(held.get("pooled") or {}).get("macro_f1"),
            )
        return out
    out.update(h_mean=doc.get("heldout_acc"), l_mean=doc.get("local_acc"))
    per_node = doc.get("per_node")
    if isinstance(per_node, list) and per_node:
        hd = _dist_from_values([r.get("heldout_acc") for r in per_node if isinstance(r, Mapping)])
        ld = _dist_from_values([r.get("local_acc") for r in per_node if isinstance(r, Mapping)])
        if hd and len(per_node) > 1:
            out.update(h_median=hd["median"], h_worst=hd["worst10"])
        if ld and len(per_node) > 1:
            out.update(l_worst=ld["worst10"])
    pnl = doc.get("per_node_local_acc")
    if isinstance(pnl, Mapping) and pnl:
        ld = _dist_from_values(list(pnl.values()))
        if ld:
            out.update(l_worst=ld["worst10"])
    return out


_BASELINE_LABELS = {
    "central": "one model on everyone's data (central)",
    "local_only": "each node alone (local-only)",
}


def _baselines(evaluation: Mapping[str, Any], summary: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """Baseline rows from summary.json and evaluation.json (the latter wins on equal names)."""
    found: dict[str, Any] = {}
    for src in ((summary or {}).get("baselines"), evaluation.get("baselines")):
        if isinstance(src, Mapping):
            found.update({k.replace("-", "_"): v for k, v in src.items() if isinstance(v, Mapping)})
    return [(_BASELINE_LABELS.get(k, k), _headline(v)) for k, v in found.items()]


# --- figures -------------------------------------------------------------------------------------


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


# --- Markdown ------------------------------------------------------------------------------------


def _f1(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _natural(text: str) -> list[Any]:
    """Sort key that orders "subject 2" before "subject 10"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def _run_params(run_dir: Path, summary: Mapping[str, Any] | None) -> list[str]:
    """Bullet lines: summary.json's run facts, the simulation spec (spec.toml) or the node config."""
    lines = []
    summary = summary or {}
    run = summary.get("run")
    if isinstance(run, Mapping) and run:
        lines.append("- run: " + _flat(run))
    elif summary:  # e.g. a simulation's summary: its scalar facts
        facts = {k: v for k, v in summary.items() if not isinstance(v, Mapping | list)}
        if facts:
            lines.append("- run: " + _flat(facts))
    spec = run_dir / "spec.toml"
    if spec.is_file():
        try:
            doc = tomllib.loads(spec.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            log.warning("cannot read %s for the run parameters: %s", spec, e)
            doc = {}
        top = {k: v for k, v in doc.items() if not isinstance(v, Mapping)}
        if top:
            lines.append("- spec: " + _flat(top))
        lines += [f"- {k}: {_flat(v)}" for k, v in doc.items() if isinstance(v, Mapping)]
    nodes = sorted((run_dir / "nodes").glob("*.toml")) if (run_dir / "nodes").is_dir() else []
    if nodes:
        try:
            cfg = load_node_config(nodes[0])
        except P2PFedError as e:
            log.warning("cannot read %s for the run parameters: %s", nodes[0], e)
            return lines
        data = {k: v for k, v in dataclasses.asdict(cfg.data).items() if k not in ("users", "path", "eval_path")}
        if cfg.data.source == "npz":
            data = {k: v for k, v in data.items() if k not in ("synthetic", "eval_users")}
            data["file"] = Path(cfg.data.path).name
            data["eval_file"] = Path(cfg.data.eval_path).name if cfg.data.eval_path else ""
        model = dataclasses.asdict(cfg.model)
        if cfg.model.kind != "cnn1d":
            model = {k: v for k, v in model.items() if k not in ("channels", "kernel", "pool")}
        if cfg.model.personalize != "head":
            model.pop("head_layers")
        if cfg.model.personalize != "finetune":
            model.pop("finetune_steps")
        for section, values in (("model", model), ("data", data), ("gossip", dataclasses.asdict(cfg.gossip))):
            lines.append(f"- {section} (as {nodes[0].name} runs it): " + _flat(values))
    return lines


def _flat(values: Mapping[str, Any], prefix: str = "") -> str:
    """`k = v, table.k = v, ...` with arrays as [a, b]."""
    parts = []
    for k, v in values.items():
        if isinstance(v, Mapping):
            parts.append(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, list | tuple):
            parts.append(f"{prefix}{k} = [{', '.join(map(str, v))}]")
        else:
            parts.append(f"{prefix}{k} = {v}")
    return ", ".join(p for p in parts if p)


def report_markdown(
    evaluation: Mapping[str, Any],
    summary: Mapping[str, Any] | None = None,
    title: str = "",
    images: Mapping[str, str] | None = None,
    run_params: Sequence[str] = (),
) -> str:
    """The one-page Markdown report of a run's evaluation (and summary, when there is one)."""
    images = images or {}
    names = list(evaluation["label_names"])
    held = evaluation.get("heldout")
    lines = [f"# p2pfed run report{': ' + title if title else ''}", ""]
    nodes = evaluation["nodes"]
    src = evaluation.get("source") or {}
    lines.append(
        f"{len(nodes)} nodes evaluated"
        + (f" (of {src['nodes']})" if src.get("nodes") and src["nodes"] != len(nodes) else "")
        + (f"; {held['n_rows']} held-out rows of people no node holds" if held else "; no held-out people")
        + f"; {evaluation['local']['pooled']['n']} own held-out rows over all nodes."
    )
    lines += [
        "",
        "## Accuracy",
        "",
        _row(["model", "held-out people: mean", "median", "worst 10 %", "macro-F1", "own data: mean", "worst 10 %"]),
        "|---|---|---|---|---|---|---|",
    ]
    rows = [("p2pfed (each node's model)", _headline(evaluation))]
    if isinstance(evaluation.get("shared_model"), Mapping):
        rows.append(("shared model, not fine-tuned", _headline(evaluation["shared_model"])))
    cm = evaluation.get("consensus_model")
    if isinstance(cm, Mapping):  # simulations: the network's average model, as each node would use it
        h = dict.fromkeys(("h_mean", "h_median", "h_worst", "h_f1", "l_mean", "l_worst"))
        h.update(h_mean=cm.get("acc_mean"), l_mean=cm.get("local_acc_mean"), l_worst=cm.get("local_acc_p10"))
        rows.append(("the network's average model (train-size weighted)", h))
    rows += _baselines(evaluation, summary)
    for label, h in rows:
        lines.append(
            _row(
                [label, pct(h["h_mean"]), pct(h["h_median"]), pct(h["h_worst"]), _f1(h["h_f1"])]
                + [pct(h["l_mean"]), pct(h["l_worst"])]
            )
        )
    lines += [
        "",
        "Worst 10 %: mean accuracy of the lowest-scoring tenth of the nodes (at least one node). "
        "Macro-F1: of all nodes' predictions on the held-out people pooled.",
    ]
    if summary and summary.get("gossip"):
        v = verdict(summary)
        if v:
            lines += ["", v + "."]

    groups = evaluation.get("groups") or {}
    by_node, by_row = groups.get("by_node") or {}, groups.get("by_heldout_row") or {}
    if len(by_node) > 1 or by_row:
        lines += [
            "",
            "## By group",
            "",
            _row(
                ["group", "nodes", "own data: mean", "worst node", "held-out people: mean"]
                + ["held-out rows of this group", "accuracy on them"]
            ),
            "|---|---|---|---|---|---|---|",
        ]
        for g in sorted(set(by_node) | set(by_row), key=_natural):
            bn, br = by_node.get(g), by_row.get(g)
            lines.append(
                _row(
                    [
                        g or "(none)",
                        bn["nodes"] if bn else 0,
                        pct(bn["local"]["mean"]) if bn else "-",
                        pct(bn["local"]["min"]) if bn else "-",
                        pct(bn["heldout"]["mean"]) if bn and bn.get("heldout") else "-",
                        br["rows"] if br else "-",
                        f"{pct(br['accuracy'])} (worst node {pct(br['nodes']['min'])})" if br else "-",
                    ]
                )
            )
        lines += [
            "",
            "Own data: the nodes of this group on their own held-out rows. Held-out rows of this "
            "group: every node's model on the held-out people of this group.",
        ]

    lines += ["", "## Per class", ""]
    lp = evaluation["local"]["pooled"]["per_class"]
    hp = held["pooled"]["per_class"] if held else None
    header = ["class", "held-out recall", "held-out precision", "held-out F1", "held-out rows", "own-data recall"]
    lines += [
        _row([*header, "own-data F1"]),
        "|---|---|---|---|---|---|---|",
    ]
    for c, name in enumerate(names):
        h = hp[c] if hp else None
        lines.append(
            _row(
                [
                    name,
                    pct(h["recall"]) if h else "-",
                    pct(h["precision"]) if h else "-",
                    _f1(h["f1"]) if h else "-",
                    held["class_rows"][c] if h and "class_rows" in held else (h["support"] if h else "-"),
                    pct(lp[c]["recall"]),
                    _f1(lp[c]["f1"]),
                ]
            )
        )
    if hp:
        lines += [
            "",
            "Held-out metrics pool every node's predictions on the held-out rows; own-data metrics pool "
            "every node's own rows.",
        ]
    if "confusion" in images:
        lines += ["", "## Confusion matrix", "", f"![confusion matrix, rows normalised]({images['confusion']})"]
    if "accuracy" in images:
        lines += ["", "## Accuracy over time", "", f"![accuracy over time]({images['accuracy']})"]

    def weakest_first(item: tuple[str, Any]) -> float:
        acc = (item[1]["heldout"] or item[1]["local"])["accuracy"]
        return -1.0 if acc is None else float(acc)

    ranked = sorted(nodes.items(), key=weakest_first)
    if ranked:
        k = min(len(ranked), 5)
        lines += [
            "",
            f"## Weakest {k} of {len(ranked)} nodes",
            "",
            _row(["node", "group", "held-out people", "own data", "own rows"]),
            "|---|---|---|---|---|",
        ]
        for n, e in ranked[:k]:
            held_acc = pct(e["heldout"]["accuracy"]) if e["heldout"] else "-"
            lines.append(_row([n, e["group"] or "-", held_acc, pct(e["local"]["accuracy"]), e["local"]["n"]]))
    if run_params:
        lines += ["", "## Run parameters", "", *run_params]
    return "\n".join(lines) + "\n"


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    recompute: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ReportFiles:
    """Write RUN/report.md (or `out`), RUN/confusion.png and, with a metrics history, RUN/accuracy.png.

    The evaluation comes from RUN/evaluation.json; a `p2pfed launch` folder without one (or
    with `recompute`) is evaluated from its saved models first (`evaluate_launch_run`).
    RUN/summary.json adds baselines and run parameters when present.
    """
    run_dir = Path(run_dir)
    evaluation, computed = load_or_evaluate(run_dir, recompute, progress)
    summary = _read_json(run_dir / "summary.json")
    md_path = Path(out) if out is not None else run_dir / REPORT_FILE
    if md_path.is_dir():
        md_path = md_path / REPORT_FILE
    md_path.parent.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    conf = plot_confusion(evaluation, run_dir / CONFUSION_PNG)
    images["confusion"] = _rel(conf, md_path.parent)
    series = accuracy_series(run_dir)
    acc = plot_accuracy(series, run_dir / ACCURACY_PNG) if series else None
    if acc is not None:
        images["accuracy"] = _rel(acc, md_path.parent)
    text = report_markdown(evaluation, summary, run_dir.resolve().name, images, _run_params(run_dir, summary))
    md_path.write_text(text, encoding="utf-8")
    return ReportFiles(md_path, conf, acc, run_dir / EVALUATION_FILE, computed)


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()
