"""Tests of p2pfed.evaluation.scoring: classification metrics, run slices and the evaluation.json file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pfed.errors import DataError
from p2pfed.evaluation.scoring import (
    EVALUATION_FILE,
    NodeOutcome,
    classification,
    confusion,
    distribution,
    evaluate_run,
    read_evaluation,
    write_evaluation,
)
from p2pfed.types import Split

# ---------------------------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------------------------


def test_classification_by_hand() -> None:
    c = classification(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4)
    assert c["confusion"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert c["accuracy"] == pytest.approx(0.6) and c["n"] == 5
    pc = c["per_class"]
    assert pc[0] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert pc[1]["precision"] == pytest.approx(2 / 3) and pc[1]["recall"] == 1.0 and pc[1]["f1"] == pytest.approx(0.8)
    assert pc[2] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}  # never predicted
    assert pc[3] == {"precision": None, "recall": None, "f1": None, "support": 0}  # absent: excluded
    assert c["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_a_class_predicted_but_never_true_counts_in_macro_f1() -> None:
    c = classification(np.array([0, 0]), np.array([0, 1]), 3)
    assert c["per_class"][1] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert c["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)


def test_empty_and_perfect() -> None:
    empty = classification(np.array([], np.int64), np.array([], np.int64), 3)
    assert empty["accuracy"] is None and empty["macro_f1"] is None and empty["n"] == 0
    perfect = classification(np.array([2, 0, 1]), np.array([2, 0, 1]), 3)
    assert perfect["accuracy"] == 1.0 and perfect["macro_f1"] == 1.0


@pytest.mark.parametrize(
    ("t", "p", "fragment"),
    [
        ([0, 3], [0, 1], r"y_true holds labels 0..3, outside 0..2"),
        ([0, 1], [0, -1], "y_pred holds labels"),
        ([0, 1], [0], "y_true has 2 labels but y_pred has 1"),
        ([0.0, 1.0], [0, 1], "integer labels"),
        ([[0, 1]], [[0, 1]], "1-D"),
    ],
)
def test_bad_labels(t: list, p: list, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        classification(np.array(t), np.array(p), 3)


def _reference(t: np.ndarray, p: np.ndarray, k: int) -> tuple[float, float]:
    """Accuracy and macro-F1 the slow, obvious way."""
    acc = sum(int(a == b) for a, b in zip(t, p)) / len(t)
    f1s = []
    for c in range(k):
        tp = sum(1 for a, b in zip(t, p) if a == c and b == c)
        fp = sum(1 for a, b in zip(t, p) if a != c and b == c)
        fn = sum(1 for a, b in zip(t, p) if a == c and b != c)
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return acc, sum(f1s) / len(f1s)


pairs = st.integers(2, 6).flatmap(
    lambda k: st.tuples(
        st.just(k),
        st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=60),
    )
)


@given(pairs, st.randoms(use_true_random=False))
def test_classification_properties(kp: tuple[int, list[tuple[int, int]]], rnd) -> None:  # type: ignore[no-untyped-def]
    k, rows = kp
    t = np.array([a for a, _ in rows])
    p = np.array([b for _, b in rows])
    c = classification(t, p, k)
    cm = np.array(c["confusion"])
    assert cm.sum() == len(rows) and c["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert 0.0 <= c["macro_f1"] <= 1.0
    acc, f1 = _reference(t, p, k)
    assert c["accuracy"] == pytest.approx(acc) and c["macro_f1"] == pytest.approx(f1)
    # invariant under reordering the rows ...
    order = list(range(len(rows)))
    rnd.shuffle(order)
    c2 = classification(t[order], p[order], k)
    assert c2["confusion"] == c["confusion"] and c2["macro_f1"] == pytest.approx(c["macro_f1"])
    # ... and under renaming the classes consistently
    perm = np.array(rnd.sample(range(k), k))
    c3 = classification(perm[t], perm[p], k)
    assert c3["accuracy"] == pytest.approx(c["accuracy"]) and c3["macro_f1"] == pytest.approx(c["macro_f1"])
    assert np.array_equal(np.array(c3["confusion"])[np.ix_(perm, perm)], cm)


def test_confusion_rows_are_true_classes() -> None:
    cm = confusion(np.array([2, 2, 0]), np.array([1, 1, 0]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 0, 0], [0, 2, 0]]


# ---------------------------------------------------------------------------------------------
# distribution over nodes
# ---------------------------------------------------------------------------------------------


def test_distribution_worst_decile() -> None:
    d = distribution([i / 10 for i in range(1, 11)])
    assert d["worst10"] == pytest.approx(0.1) and d["min"] == pytest.approx(0.1)
    assert d["mean"] == pytest.approx(0.55) and d["median"] == pytest.approx(0.55) and d["n"] == 10
    d11 = distribution([0.2, 0.4] + [1.0] * 9)  # ceil(1.1) = 2 nodes in the worst decile
    assert d11["worst10"] == pytest.approx(0.3)
    assert distribution([0.7])["worst10"] == 0.7  # at least one node
    skip = distribution([None, math.nan, 0.5, 0.9])
    assert skip["n"] == 2 and skip["mean"] == pytest.approx(0.7)
    assert distribution([])["mean"] is None and distribution([None])["worst10"] is None


@given(st.lists(st.floats(0, 1), min_size=1, max_size=50))
def test_distribution_order(values: list[float]) -> None:
    d = distribution(values)
    eps = 1e-12  # means of equal values may differ from them in the last bit
    assert d["min"] - eps <= d["worst10"] <= d["mean"] + eps <= d["max"] + 2 * eps
    assert d["min"] - eps <= d["median"] <= d["max"] + eps
    assert d["worst10"] <= distribution([*values, 2.0])["worst10"] + eps  # a better node never lowers it


# ---------------------------------------------------------------------------------------------
# evaluate_run
# ---------------------------------------------------------------------------------------------

HELD = Split(
    X=np.zeros((6, 1), np.float32),
    y=np.array([0, 0, 1, 1, 2, 2]),
    groups=np.array(["runner", "runner", "runner", "sedentary", "sedentary", "sedentary"]),
)


def outcomes() -> list[NodeOutcome]:
    return [
        # n0: runner, local 2/2, held-out perfect
        NodeOutcome("n0", "runner", np.array([0, 1]), np.array([0, 1]), np.array([0, 0, 1, 1, 2, 2])),
        # n1: runner, local 1/2, held-out: gets the runners' rows right, sedentary wrong
        NodeOutcome("n1", "runner", np.array([0, 0]), np.array([0, 1]), np.array([0, 0, 1, 0, 0, 0])),
        # n2: sedentary, local 1/4, held-out 3/6
        NodeOutcome("n2", "sedentary", np.array([2, 2, 1, 0]), np.array([2, 0, 0, 1]), np.array([1, 0, 1, 1, 2, 0])),
    ]


def test_evaluate_run_per_node_and_distributions() -> None:
    ev = evaluate_run(outcomes(), HELD, 3, ["sit", "walk", "run"])
    n = ev["nodes"]
    assert n["n0"] == {"group": "runner", "local": {"accuracy": 1.0, "macro_f1": 1.0, "n": 2}, "heldout": n["n0"]["heldout"]}
    assert n["n0"]["heldout"]["accuracy"] == 1.0
    assert n["n1"]["local"]["accuracy"] == 0.5 and n["n1"]["heldout"]["accuracy"] == pytest.approx(3 / 6)
    assert n["n2"]["local"]["accuracy"] == 0.25 and n["n2"]["heldout"]["accuracy"] == pytest.approx(4 / 6)
    local = ev["local"]["distribution"]
    assert local["mean"] == pytest.approx((1 + 0.5 + 0.25) / 3) and local["worst10"] == 0.25 and local["median"] == 0.5
    held = ev["heldout"]["distribution"]
    assert held["worst10"] == pytest.approx(0.5) and held["max"] == 1.0
    # pooled: row-weighted, confusion summed over nodes
    assert ev["local"]["pooled"]["accuracy"] == pytest.approx(4 / 8)
    cm = np.array(ev["heldout"]["pooled"]["confusion"])
    assert cm.sum() == 18 and np.trace(cm) == 6 + 3 + 4
    assert cm[2].tolist() == [3, 0, 3]  # true class 2: n0 right twice, n1 wrong twice, n2 once each
    assert ev["per_class_recall"]["heldout"] == pytest.approx([5 / 6, 5 / 6, 3 / 6])
    assert ev["label_names"] == ["sit", "walk", "run"] and ev["heldout"]["n_rows"] == 6
    assert ev["heldout"]["class_rows"] == [2, 2, 2] and ev["heldout"]["pooled"]["per_class"][0]["support"] == 6


def test_evaluate_run_group_slices_both_ways() -> None:
    ev = evaluate_run(outcomes(), HELD, 3, ["a", "b", "c"])
    by_node = ev["groups"]["by_node"]
    assert by_node["runner"]["nodes"] == 2 and by_node["runner"]["local"]["mean"] == pytest.approx(0.75)
    assert by_node["sedentary"]["local"]["min"] == 0.25
    assert by_node["runner"]["heldout"]["mean"] == pytest.approx((1 + 0.5) / 2)
    by_row = ev["groups"]["by_heldout_row"]
    # held-out runners: rows 0-2. n0 3/3, n1 3/3, n2 2/3
    assert by_row["runner"]["rows"] == 3
    assert by_row["runner"]["accuracy"] == pytest.approx(8 / 9) and by_row["runner"]["nodes"]["min"] == pytest.approx(2 / 3)
    # held-out sedentary: rows 3-5. n0 3/3, n1 0/3, n2 2/3 (rows 3 and 4)
    assert by_row["sedentary"]["accuracy"] == pytest.approx(5 / 9)
    assert by_row["sedentary"]["nodes"]["worst10"] == 0.0


def test_evaluate_run_without_heldout_or_groups() -> None:
    outs = [NodeOutcome(o.node, o.group, o.local_true, o.local_pred, None) for o in outcomes()]
    ev = evaluate_run(outs, None, 3, [])
    assert ev["heldout"] is None and ev["nodes"]["n0"]["heldout"] is None
    assert ev["label_names"] == ["0", "1", "2"] and ev["groups"]["by_heldout_row"] == {}
    assert ev["groups"]["by_node"]["runner"]["heldout"] is None
    no_groups = evaluate_run(outcomes(), Split(HELD.X, HELD.y), 3, ["a", "b", "c"])
    assert no_groups["groups"]["by_heldout_row"] == {} and no_groups["heldout"]["pooled"]["n"] == 18


def test_evaluate_run_attaches_extra_and_is_json() -> None:
    base = {"central": {"heldout_acc": 0.9, "local_acc": 0.95}}
    ev = evaluate_run(outcomes(), HELD, 3, ["a", "b", "c"], extra={"baselines": base})
    assert ev["baselines"] == base
    assert json.loads(json.dumps(ev)) == ev  # plain JSON types only
    with pytest.raises(DataError, match="overwrite"):
        evaluate_run(outcomes(), HELD, 3, ["a", "b", "c"], extra={"nodes": {}})


@pytest.mark.parametrize(
    ("outs", "names", "fragment"),
    [
        ([], ["a", "b", "c"], "no node outcomes"),
        (outcomes()[:1] * 2, ["a", "b", "c"], "same node id"),
        (outcomes(), ["a", "b"], "2 label names for 3 classes"),
        ([NodeOutcome("x", "", np.array([0]), np.array([0]), None)], ["a", "b", "c"], "no held-out predictions"),
        ([NodeOutcome("x", "", np.array([0]), np.array([0]), np.zeros(5, np.int64))], ["a", "b", "c"], "6 labels but y_pred has 5"),
        ([NodeOutcome("x", "", np.array([0]), np.array([7]), np.zeros(6, np.int64))], ["a", "b", "c"], "outside 0..2"),
    ],
)
def test_evaluate_run_errors(outs: list[NodeOutcome], names: list[str], fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        evaluate_run(outs, HELD, 3, names)


# ---------------------------------------------------------------------------------------------
# evaluation.json
# ---------------------------------------------------------------------------------------------


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    ev = evaluate_run(outcomes(), HELD, 3, ["a", "b", "c"], extra={"note": {"x": np.float32(0.5), "y": math.nan}})
    path = write_evaluation(tmp_path, ev)
    assert path == tmp_path / EVALUATION_FILE and not list(tmp_path.glob(".*tmp"))
    text = path.read_text()
    assert "NaN" not in text
    back = read_evaluation(tmp_path)
    assert back["note"] == {"x": 0.5, "y": None}
    assert back["nodes"] == ev["nodes"] and back["groups"] == ev["groups"]


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_evaluation(tmp_path)
    (tmp_path / EVALUATION_FILE).write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_evaluation(tmp_path)
    (tmp_path / EVALUATION_FILE).write_text('{"nodes": {}}')
    with pytest.raises(DataError, match="not a p2pfed evaluation .missing n_classes, label_names, local"):
        read_evaluation(tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        write_evaluation(tmp_path / "missing", {})
