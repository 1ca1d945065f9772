"""Run evaluation: classification metrics, per-node/worst-decile/per-group slices, evaluation.json.

Everything here works on predicted labels (numpy only), so the same code scores a launched run,
a simulation or a baseline. The evaluation document (`evaluate_run`) is plain JSON:

``n_classes``, ``label_names``
``nodes``          per node: ``group``, ``local`` {accuracy, macro_f1, n} on the node's own
                   held-out rows, ``heldout`` {accuracy, macro_f1, n} on the held-out people (or None)
``local``          ``distribution`` over nodes of the local accuracy (`distribution`), ``pooled``
                   `classification` of all nodes' local rows together (row-weighted)
``heldout``        ``n_rows`` and ``class_rows`` (rows per class) of the held-out people,
                   ``distribution`` over nodes of held-out accuracy, ``pooled`` `classification`
                   of every node's predictions on the held-out rows (confusion summed over
                   nodes, so its supports count each row once per node), or None without a
                   held-out set
``groups``         ``by_node``: nodes grouped by their `NodeOutcome.group` (e.g. the archetype of
                   the node's user): node count and local/held-out accuracy distributions;
                   ``by_heldout_row``: held-out rows grouped by ``heldout.groups`` (e.g. held-out
                   runners): rows, mean/min over nodes of each node's accuracy on them, and the
                   pooled accuracy and macro-F1
``per_class_recall`` ``local`` and ``heldout`` recall of each class (pooled), None where a class
                   has no rows
plus every key of ``extra`` (e.g. ``{"baselines": {"central": {...}, "local-only": {...}}}``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from p2pfed.errors import DataError
from p2pfed.node.metrics import json_safe
from p2pfed.types import Split

EVALUATION_FILE = "evaluation.json"
#: Share of nodes in the "worst decile": the mean of the lowest ceil(WORST_SHARE * n) values.
WORST_SHARE = 0.10


def _labels(a: np.ndarray, n_classes: int, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise DataError(f"{what} must be a 1-D array of labels, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"{what} must hold integer labels, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.size and (int(a.min()) < 0 or int(a.max()) >= n_classes):
        raise DataError(f"{what} holds labels {int(a.min())}..{int(a.max())}, outside 0..{n_classes - 1}")
    return a


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion counts, int64 (n_classes, n_classes): rows are true classes, columns predicted."""
    if n_classes < 1:
        raise DataError(f"n_classes must be >= 1, got {n_classes}")
    t = _labels(y_true, n_classes, "y_true")
    p = _labels(y_pred, n_classes, "y_pred")
    if t.shape != p.shape:
        raise DataError(f"y_true has {t.size} labels but y_pred has {p.size}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def classification_from_confusion(cm: np.ndarray) -> dict[str, Any]:
    """`classification` of a confusion matrix (rows true, columns predicted)."""
    cm = np.asarray(cm, dtype=np.int64)
    total = int(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    per_class = []
    f1s = []
    for c in range(cm.shape[0]):
        if support[c] == 0 and predicted[c] == 0:
            per_class.append({"precision": None, "recall": None, "f1": None, "support": 0})
            continue
        precision = tp[c] / predicted[c] if predicted[c] else 0.0
        recall = tp[c] / support[c] if support[c] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        f1s.append(f1)
        per_class.append(
            {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(support[c])}
        )
    return {
        "n": total,
        "accuracy": float(tp.sum() / total) if total else None,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def classification(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Macro-F1 is the unweighted mean of the per-class F1 over the classes that occur in `y_true`
    or in `y_pred`; a class absent from both is excluded (its entries are None), since it says
    nothing about this sample. A class that is predicted but never true has recall 0 and F1 0;
    one that is true but never predicted has precision 0 (scikit-learn's ``zero_division=0``).
    Empty inputs give accuracy and macro-F1 None. ``confusion`` is a list of lists, rows = true.
    """
    return classification_from_confusion(confusion(y_true, y_pred, n_classes))


def distribution(values: Sequence[float | None]) -> dict[str, Any]:
    """mean, median, worst10 (mean of the lowest ceil(10 %) values), min, max, n of the finite values."""
    vals = np.sort(np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64))
    if vals.size == 0:
        return {"n": 0, "mean": None, "median": None, "worst10": None, "min": None, "max": None}
    k = max(1, math.ceil(WORST_SHARE * vals.size))
    return {
        "n": int(vals.size),
        "mean": float(vals.mean()),
        "median": float(np.median(vals)),
        "worst10": float(vals[:k].mean()),
        "min": float(vals[0]),
        "max": float(vals[-1]),
    }


@dataclass(frozen=True, eq=False)
class NodeOutcome:
    """What one node's model predicts on its own held-out rows and on the held-out people."""

    node: str
    group: str  # e.g. the archetype of the node's user, "subject 7"; "" if unknown
    local_true: np.ndarray  # labels of the node's own held-out rows
    local_pred: np.ndarray  # the node's model's predictions on them (personalised if the run is)
    heldout_pred: np.ndarray | None  # predictions on the shared held-out rows (None: no held-out set)


def _score(t: np.ndarray, p: np.ndarray, n_classes: int) -> dict[str, Any]:
    c = classification(t, p, n_classes)
    return {"accuracy": c["accuracy"], "macro_f1": c["macro_f1"], "n": c["n"]}


def _recall(c: Mapping[str, Any]) -> list[float | None]:
    return [pc["recall"] if pc["support"] else None for pc in c["per_class"]]


def evaluate_run(
    outcomes: Sequence[NodeOutcome],
    heldout: Split | None,
    n_classes: int,
    label_names: Sequence[str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The evaluation document of a run (see the module docstring), JSON-serialisable."""
    if not outcomes:
        raise DataError("no node outcomes to evaluate")
    names = [str(n) for n in label_names] or [str(c) for c in range(n_classes)]
    if len(names) != n_classes:
        raise DataError(f"{len(names)} label names for {n_classes} classes")
    ids = [o.node for o in outcomes]
    if len(set(ids)) != len(ids):
        raise DataError("two node outcomes have the same node id")
    y_held = None
    if heldout is not None:
        y_held = _labels(heldout.y, n_classes, "held-out labels")
        missing = [o.node for o in outcomes if o.heldout_pred is None]
        if missing:
            raise DataError(f"nodes {', '.join(missing)} have no held-out predictions, but there is a held-out set")

    nodes: dict[str, Any] = {}
    local_cm = np.zeros((n_classes, n_classes), np.int64)
    held_cm = np.zeros((n_classes, n_classes), np.int64)
    for o in outcomes:
        cm = confusion(o.local_true, o.local_pred, n_classes)
        local_cm += cm
        c = classification_from_confusion(cm)
        entry: dict[str, Any] = {
            "group": o.group,
            "local": {"accuracy": c["accuracy"], "macro_f1": c["macro_f1"], "n": c["n"]},
            "heldout": None,
        }
        if y_held is not None:
            assert o.heldout_pred is not None
            hcm = confusion(y_held, o.heldout_pred, n_classes)
            held_cm += hcm
            h = classification_from_confusion(hcm)
            entry["heldout"] = {"accuracy": h["accuracy"], "macro_f1": h["macro_f1"], "n": h["n"]}
        nodes[o.node] = entry

    local_pooled = classification_from_confusion(local_cm)
    doc: dict[str, Any] = {
        "n_classes": int(n_classes),
        "label_names": names,
        "nodes": nodes,
        "local": {
            "distribution": distribution([e["local"]["accuracy"] for e in nodes.values()]),
            "pooled": local_pooled,
        },
        "heldout": None,
        "groups": {"by_node": _by_node_group(nodes), "by_heldout_row": {}},
        "per_class_recall": {"local": _recall(local_pooled), "heldout": None},
    }
    if y_held is not None and heldout is not None:
        held_pooled = classification_from_confusion(held_cm)
        doc["heldout"] = {
            "n_rows": int(y_held.size),
            "class_rows": np.bincount(y_held, minlength=n_classes).tolist(),
            "distribution": distribution([e["heldout"]["accuracy"] for e in nodes.values()]),
            "pooled": held_pooled,
        }
        doc["per_class_recall"]["heldout"] = _recall(held_pooled)
        if heldout.groups is not None:
            doc["groups"]["by_heldout_row"] = _by_heldout_group(outcomes, y_held, heldout.groups, n_classes)
    for k, v in (extra or {}).items():
        if k in doc:
            raise DataError(f"extra key {k!r} would overwrite a computed entry of the evaluation")
        doc[k] = v
    return doc


def _by_node_group(nodes: Mapping[str, Any]) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for n, e in nodes.items():
        groups.setdefault(e["group"], []).append(n)
    out = {}
    for g in sorted(groups):
        members = groups[g]
        held = [nodes[n]["heldout"]["accuracy"] for n in members if nodes[n]["heldout"] is not None]
        out[g] = {
            "nodes": len(members),
            "local": distribution([nodes[n]["local"]["accuracy"] for n in members]),
            "heldout": distribution(held) if held else None,
        }
    return out


def _by_heldout_group(
    outcomes: Sequence[NodeOutcome], y: np.ndarray, groups: np.ndarray, n_classes: int
) -> dict[str, Any]:
    groups = np.asarray(groups).astype(str)
    if groups.shape != y.shape:
        raise DataError(f"held-out groups have shape {groups.shape}, labels {y.shape}")
    out = {}
    for g in sorted(set(groups.tolist())):
        rows = groups == g
        cm = np.zeros((n_classes, n_classes), np.int64)
        accs = []
        for o in outcomes:
            assert o.heldout_pred is not None
            c = confusion(y[rows], np.asarray(o.heldout_pred)[rows], n_classes)
            cm += c
            accs.append(float(np.trace(c) / c.sum()))
        pooled = classification_from_confusion(cm)
        out[g] = {
            "rows": int(rows.sum()),
            "nodes": distribution(accs),
            "accuracy": pooled["accuracy"],
            "macro_f1": pooled["macro_f1"],
        }
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_evaluation(run_dir: str | Path, evaluation: Mapping[str, Any]) -> Path:
    """Write `evaluation` to RUN_DIR/evaluation.json atomically (temp file, fsync, rename)."""
    d = Path(run_dir)
    if not d.is_dir():
        raise DataError(f"{d} is not a directory")
    text = json.dumps(json_safe(json.loads(json.dumps(evaluation, default=_json_default))), indent=1)
    target = d / EVALUATION_FILE
    tmp = d / f".{EVALUATION_FILE}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def read_evaluation(run_dir: str | Path) -> dict[str, Any]:
    """RUN_DIR/evaluation.json, with a clear DataError when it is missing or not an evaluation."""
    path = Path(run_dir) / EVALUATION_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found (no evaluation of this run yet)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read: {e}") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e}); delete it to recompute") from None
    missing = [k for k in ("n_classes", "label_names", "nodes", "local") if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise DataError(f"{path}: not a p2pfed evaluation (missing {', '.join(missing)})")
    return doc
