"""`p2pfed report RUN`: the one-page Markdown report of a run's evaluation, with its figures."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2pfed.evaluation.figures import accuracy_series, plot_accuracy, plot_confusion
from p2pfed.evaluation.launch_run import load_or_evaluate
from p2pfed.evaluation.run_params import run_param_lines
from p2pfed.evaluation.scoring import EVALUATION_FILE, distribution
from p2pfed.evaluation.summary import pct, read_summary, verdict

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


# --- Markdown ------------------------------------------------------------------------------------


def _f1(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _natural(text: str) -> list[Any]:
    """Sort key that orders "subject 2" before "subject 10"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


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
    summary = read_summary(run_dir)
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
    text = report_markdown(evaluation, summary, run_dir.resolve().name, images, run_param_lines(run_dir, summary))
    md_path.write_text(text, encoding="utf-8")
    return ReportFiles(md_path, conf, acc, run_dir / EVALUATION_FILE, computed)


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()
