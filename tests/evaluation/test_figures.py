"""Figures of the run report: accuracy over time from the nodes' metrics logs."""

import json

import pytest

from p2pfed.evaluation.figures import accuracy_series
from p2pfed.evaluation.report import write_report


def test_accuracy_history_of_a_launch_run(launch_run, is_png) -> None:  # type: ignore[no-untyped-def]
    fed, _ = launch_run(nodes=2, steps=1)
    for i, node_id in enumerate(fed.ids):
        recs = [{"elapsed": t + 0.3 * i, "heldout_acc": 0.5 + 0.01 * t, "local_acc": 0.6 + i / 10} for t in range(5)]
        (fed.run_dir / "state" / node_id / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    series = accuracy_series(fed.run_dir)
    t, v = series["own held-out data (mean over nodes)"]
    assert t.tolist() == [0, 1, 2, 3, 4] and v == pytest.approx([0.65] * 5)
    files = write_report(fed.run_dir)
    assert files.accuracy is not None and is_png(files.accuracy)
