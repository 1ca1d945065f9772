"""`p2pfed report RUN`: reports of evaluation.json runs and simulation folders, figures, errors, the CLI command."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from p2pfed.errors import DataError
from p2pfed.evaluation.figures import accuracy_series
from p2pfed.evaluation.report import report_markdown, write_report
from p2pfed.evaluation.scoring import NodeOutcome, evaluate_run, read_evaluation, write_evaluation
from p2pfed.evaluation.summary import pct, summarize
from p2pfed.types import Split

LABELS = ["sedentary", "light", "moderate", "vigorous"]


def _evaluation(extra: dict | None = None) -> dict:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 40)
    held = Split(np.zeros((40, 1), np.float32), y, groups=np.array(["runner", "older adult"] * 20))
    outs = []
    for i, group in enumerate(["runner", "runner", "older adult", "sedentary"]):
        t = rng.integers(0, 4, 10)
        flip = rng.random(10) < 0.1 * (i + 1)
        outs.append(NodeOutcome(f"n{i}", group, t, np.where(flip, (t + 1) % 4, t), np.where(rng.random(40) < 0.2, 0, y)))
    return evaluate_run(outs, held, 4, LABELS, extra=extra)


def test_report_from_an_evaluation_json(tmp_path: Path, final, base, is_png) -> None:  # type: ignore[no-untyped-def]
    write_evaluation(tmp_path, _evaluation({"baselines": {"central": {"heldout_acc": 0.91, "local_acc": 0.93, "per_node_local_acc": {"a": 0.9, "b": 0.96}}}}))
    summary = summarize(final, base, {"nodes": 4, "topology": "ring"})
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"t": t, "acc_mean": 0.5 + t / 100}) + "\n" for t in range(10)))
    files = write_report(tmp_path)
    assert files.markdown == tmp_path / "report.md" and not files.computed
    assert is_png(files.confusion) and files.accuracy is not None and is_png(files.accuracy)
    md = files.markdown.read_text()
    ev = read_evaluation(tmp_path)
    d = ev["heldout"]["distribution"]
    assert "| model | held-out people: mean | median | worst 10 % | macro-F1 | own data: mean | worst 10 % |" in md
    assert f"| p2pfed (each node's model) | {pct(d['mean'])} | {pct(d['median'])} | {pct(d['worst10'])} |" in md
    # baselines from evaluation.json and summary.json, side by side
    # evaluation.json's central beats summary.json's; local-only comes from summary.json
    assert "| one model on everyone's data (central) | 91.0% | n/a | n/a | n/a | 93.0% | 90.0% |" in md
    assert "| each node alone (local-only) | 60.0% | n/a | n/a | n/a | 85.0% | n/a |" in md
    assert "## By group" in md and "| older adult | 1 |" in md and "| runner | 2 |" in md
    assert "| sedentary | 1 |" in md
    per_class = md.split("## Per class")[1]
    for c, name in enumerate(LABELS):
        cells = next(ln for ln in per_class.splitlines() if ln.startswith(f"| {name} |")).split(" | ")
        assert cells[4] == str(ev["heldout"]["class_rows"][c])  # rows, not rows x nodes
    assert "![confusion matrix, rows normalised](confusion.png)" in md
    assert "![accuracy over time](accuracy.png)" in md
    assert "- run: nodes = 4, topology = ring" in md
    assert "## Weakest 4 of 4 nodes" in md


def test_report_elsewhere_links_images_relatively(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    write_evaluation(run, _evaluation())
    files = write_report(run, out=tmp_path / "docs" / "r.md")
    md = files.markdown.read_text()
    assert files.markdown == tmp_path / "docs" / "r.md" and "](../run/confusion.png)" in md
    assert files.accuracy is None and "accuracy over time" not in md  # no metrics history


def test_markdown_without_heldout_people() -> None:
    outs = [NodeOutcome("a", "", np.array([0, 1]), np.array([0, 0]), None), NodeOutcome("b", "", np.array([1]), np.array([1]), None)]
    md = report_markdown(evaluate_run(outs, None, 2, ["x", "y"]))
    assert "no held-out people" in md and "| p2pfed (each node's model) | n/a | n/a | n/a | n/a | 75.0% | 50.0% |" in md
    assert "## By group" not in md  # a single unnamed group is no slice


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p / "missing", "no such run directory"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "not a directory"),
        (lambda p: p, "is not a run directory"),
    ],
)
def test_report_refuses_what_is_not_a_run(tmp_path: Path, make, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=fragment):
        write_report(make(tmp_path))


def test_report_refuses_a_corrupt_evaluation(tmp_path: Path) -> None:
    (tmp_path / "evaluation.json").write_text("[1, 2")
    with pytest.raises(DataError, match="not valid JSON"):
        write_report(tmp_path)


def test_report_of_a_simulation_folder_shows_its_spec(tmp_path: Path, is_png) -> None:  # type: ignore[no-untyped-def]
    """A folder as `p2pfed simulate` leaves it: evaluation.json, summary.json, spec.toml, metrics.jsonl."""
    write_evaluation(tmp_path, _evaluation())
    (tmp_path / "summary.json").write_text(json.dumps({"name": "demo", "nodes": 4, "final": {"acc_mean": 0.8}, "messages": {"lost": 1}}))
    (tmp_path / "spec.toml").write_text('name = "demo"\nseed = 3\n[model]\nhidden = [32]\n[churn]\npreset = "none"\n')
    recs = [{"t": t, "acc_mean": 0.5, "acc_p10": 0.4, "local_acc": {"n0": 0.9}} for t in range(3)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    files = write_report(tmp_path)
    md = files.markdown.read_text()
    assert "- run: name = demo, nodes = 4\n" in md
    assert "- spec: name = demo, seed = 3\n- model: hidden = [32]\n- churn: preset = none\n" in md
    assert set(accuracy_series(tmp_path)) == {"acc_mean", "acc_p10"}  # per-node maps are not series
    assert files.accuracy is not None and is_png(files.accuracy)


def test_report_of_a_simulation_shows_the_average_model(tmp_path: Path) -> None:
    """The simulator's `consensus_model` (the network's average, on each node's own data) gets a row."""
    ev = _evaluation()
    ev["consensus_model"] = {"acc_mean": 0.7512, "local_acc_mean": 0.6431, "local_acc_p10": 0.25}
    write_evaluation(tmp_path, ev)
    md = write_report(tmp_path).markdown.read_text()
    row = next(line for line in md.splitlines() if line.startswith("| the network's average model"))
    assert row.split(" | ")[1:] == ["75.1%", "n/a", "n/a", "n/a", "64.3%", "25.0% |"]


# --- the CLI command -----------------------------------------------------------------------------


def test_cli_report(tmp_path: Path) -> None:
    import typer

    from p2pfed.cli.report import report

    app = typer.Typer()
    app.command()(report)
    write_evaluation(tmp_path, _evaluation())
    res = CliRunner().invoke(app, [str(tmp_path), "-o", str(tmp_path / "out.md")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out.md").is_file() and (tmp_path / "confusion.png").is_file()
    bad = CliRunner().invoke(app, [str(tmp_path / "nope")])
    assert isinstance(bad.exception, DataError) and "no such run directory" in str(bad.exception)
