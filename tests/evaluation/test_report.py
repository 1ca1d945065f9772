"""Run summaries: aggregates, baselines comparison, Markdown."""

from p2pfed.evaluation.report import pct, summarize, to_markdown, verdict

FINAL = {
    "n0": {"heldout_acc": 0.8, "local_acc": 0.9, "exchanges": 10, "train_steps": 100, "bytes_out": 5, "rejections": {"replay": 1}},
    "n1": {"heldout_acc": 0.9, "local_acc": None, "exchanges": 12, "train_steps": 90, "bytes_out": 7, "rejections": {}},
}
BASE = {"local_only": {"heldout_acc": 0.6, "local_acc": 0.85}, "central": {"heldout_acc": 0.9, "local_acc": 0.95}}


def test_summarize_aggregates():
    s = summarize(FINAL, BASE, {"nodes": 2})
    g = s["gossip"]
    assert abs(g["heldout_acc"]["mean"] - 0.85) < 1e-12 and g["heldout_acc"]["min"] == 0.8
    assert g["local_acc"]["mean"] == 0.9  # missing values are skipped, not zeros
    assert (g["exchanges"], g["train_steps"], g["rejections"]) == (22, 190, {"replay": 1})


def test_verdict_and_markdown():
    s = summarize(FINAL, BASE)
    assert verdict(s) == "gossip: +25.0 points over local-only training, 5.0 points below central training; no server, and no data left any node"
    better = summarize({"n0": {**FINAL["n0"], "heldout_acc": 0.92}}, BASE)
    assert "level with central training (+2.0 points)" in verdict(better)
    md = to_markdown(s)
    assert "| each node alone (local-only) | 60.0% | 85.0% |" in md and "| n1 | 90.0% | n/a |" in md
    assert verdict(summarize(FINAL)) == ""


# ---------------------------------------------------------------------------------------------
# `p2pfed report RUN`: evaluation-json runs, launch runs, figures and errors
# ---------------------------------------------------------------------------------------------

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from p2pfed.errors import DataError  # noqa: E402
from p2pfed.evaluation.scoring import NodeOutcome, evaluate_run, read_evaluation, write_evaluation  # noqa: E402
from p2pfed.evaluation.report import accuracy_series, report_markdown, write_report  # noqa: E402
from p2pfed.types import Split  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
LABELS = ["sedentary", "light", "moderate", "vigorous"]


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


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


def _is_png(path: Path) -> bool:
    from matplotlib.image import imread

    return path.read_bytes()[:8] == PNG and imread(path).ndim == 3


def test_report_from_an_evaluation_json(tmp_path: Path) -> None:
    write_evaluation(tmp_path, _evaluation({"baselines": {"central": {"heldout_acc": 0.91, "local_acc": 0.93, "per_node_local_acc": {"a": 0.9, "b": 0.96}}}}))
    summary = summarize(FINAL, BASE, {"nodes": 4, "topology": "ring"})
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"t": t, "acc_mean": 0.5 + t / 100}) + "\n" for t in range(10)))
    files = write_report(tmp_path)
    assert files.markdown == tmp_path / "report.md" and not files.computed
    assert _is_png(files.confusion) and files.accuracy is not None and _is_png(files.accuracy)
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


# --- launch runs: evaluated from the saved models ------------------------------------------------


def _launch_run(tmp_path: Path, overrides: tuple[str, ...] = (), data: str = "", nodes: int = 3, steps: int = 40):
    """A real `p2pfed launch` run folder whose nodes trained and checkpointed (no processes)."""
    from p2pfed.data import load_local
    from p2pfed.launch.local import LaunchSpec, LocalFederation
    from p2pfed.learning.torch_learner import TorchLearner
    from p2pfed.node.runner import node_seed
    from p2pfed.learning.personal import personalize
    from p2pfed.node.state import NodeState, save_state

    fed = LocalFederation.prepare(LaunchSpec(nodes=nodes, topology="ring", data=data, overrides=overrides, out=str(tmp_path / "run")))
    learners = {}
    for i, node_id in enumerate(fed.ids):
        cfg = fed.node_config(node_id)
        d = load_local(cfg.data)
        m = cfg.model
        lrn = personalize(TorchLearner(m, d, seed=node_seed(node_id, m.train_seed)), m.personalize, m.head_layers, m.finetune_steps)
        params, _ = lrn.train(lrn.initial_params(), steps * (i + 1))
        save_state(cfg.node.state_dir, NodeState(node_id, lrn.manifest.schema, params, optimizer=lrn.state_arrays(), samples_drawn=lrn.samples_drawn))  # type: ignore[attr-defined]
        learners[node_id] = (lrn, params, d)
    return fed, learners


def test_launch_run_is_evaluated_from_saved_models(tmp_path: Path) -> None:
    from p2pfed.data import load_heldout

    fed, learners = _launch_run(tmp_path)
    files = write_report(fed.run_dir)
    assert files.computed and files.evaluation.is_file() and _is_png(files.confusion)
    ev = read_evaluation(fed.run_dir)
    heldout = load_heldout(fed.node_config("n0").data)
    assert heldout is not None
    for node_id, (lrn, params, d) in learners.items():
        e = ev["nodes"][node_id]
        assert e["local"]["accuracy"] == pytest.approx(lrn.evaluate(params, d.test).accuracy)
        assert e["heldout"]["accuracy"] == pytest.approx(lrn.evaluate(params, heldout).accuracy)
        assert e["group"] == "+".join(d.meta["archetypes"])
    assert ev["source"] == {"kind": "launch", "nodes_evaluated": 3, "nodes": 3}
    md = files.markdown.read_text()
    assert "3 nodes evaluated" in md
    assert "- model (as n0.toml runs it): kind = mlp, hidden = [64], personalize = none," in md
    # a second report reuses evaluation.json; --recompute evaluates again
    assert not write_report(fed.run_dir).computed
    assert write_report(fed.run_dir, recompute=True).computed


def test_launch_run_with_head_personalisation_uses_each_nodes_head(tmp_path: Path) -> None:
    fed, learners = _launch_run(tmp_path, overrides=("model.personalize='head'",), nodes=2)
    ev, _ = __import__("p2pfed.evaluation.report", fromlist=["load_or_evaluate"]).load_or_evaluate(fed.run_dir)
    for node_id, (lrn, params, d) in learners.items():
        assert ev["nodes"][node_id]["local"]["accuracy"] == pytest.approx(lrn.evaluate(params, d.test).accuracy)
    assert "shared_model" not in ev


def test_launch_run_with_finetuning_also_reports_the_shared_model(tmp_path: Path) -> None:
    fed, learners = _launch_run(tmp_path, overrides=("model.personalize='finetune'", "model.finetune_steps=15"), nodes=2)
    files = write_report(fed.run_dir)
    ev = read_evaluation(fed.run_dir)
    for node_id, (lrn, params, d) in learners.items():
        assert ev["nodes"][node_id]["local"]["accuracy"] == pytest.approx(lrn.evaluate(params, d.test).accuracy)
        assert ev["shared_model"]["nodes"][node_id]["local"]["accuracy"] == pytest.approx(lrn.inner.evaluate(params, d.test).accuracy)
    assert "| shared model, not fine-tuned |" in files.markdown.read_text()


def test_launch_run_skips_nodes_without_state_and_needs_one(tmp_path: Path) -> None:
    fed, _ = _launch_run(tmp_path, nodes=3, steps=5)
    (fed.run_dir / "state" / "n1" / "state.npz").unlink()
    write_report(fed.run_dir)
    ev = read_evaluation(fed.run_dir)
    assert sorted(ev["nodes"]) == ["n0", "n2"] and ev["source"]["nodes"] == 3
    assert "2 nodes evaluated (of 3)" in (fed.run_dir / "report.md").read_text()
    for node_id in ("n0", "n2"):
        (fed.run_dir / "state" / node_id / "state.npz").unlink()
    with pytest.raises(DataError, match="no node has saved a model"):
        write_report(fed.run_dir, recompute=True)


def test_launch_run_on_person_data_groups_by_subject(tmp_path: Path, uci_hapt: Path) -> None:
    fed, _ = _launch_run(tmp_path, data=str(uci_hapt / "tiny.npz"), nodes=2, steps=10)
    ev = read_evaluation(fed.run_dir) if (fed.run_dir / "evaluation.json").exists() else None
    assert ev is None
    write_report(fed.run_dir)
    ev = read_evaluation(fed.run_dir)
    assert {e["group"] for e in ev["nodes"].values()} == {f"subject {s}" for s in fed.subjects}
    assert ev["label_names"][0] == "WALKING"


def test_accuracy_history_of_a_launch_run(tmp_path: Path) -> None:
    fed, _ = _launch_run(tmp_path, nodes=2, steps=1)
    for i, node_id in enumerate(fed.ids):
        recs = [{"elapsed": t + 0.3 * i, "heldout_acc": 0.5 + 0.01 * t, "local_acc": 0.6 + i / 10} for t in range(5)]
        (fed.run_dir / "state" / node_id / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    series = accuracy_series(fed.run_dir)
    t, v = series["own held-out data (mean over nodes)"]
    assert t.tolist() == [0, 1, 2, 3, 4] and v == pytest.approx([0.65] * 5)
    files = write_report(fed.run_dir)
    assert files.accuracy is not None and _is_png(files.accuracy)


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


def test_launch_run_whose_models_do_not_fit_the_config(tmp_path: Path) -> None:
    """E.g. nodes that ran without personalisation, evaluated with model.personalize = 'head'."""
    import tomllib

    import tomli_w

    from p2pfed.errors import StateError

    fed, _ = _launch_run(tmp_path, nodes=2, steps=1)
    for path in (fed.run_dir / "nodes").glob("*.toml"):
        doc = tomllib.loads(path.read_text())
        doc["model"]["personalize"] = "head"
        path.write_text(tomli_w.dumps(doc))
    with pytest.raises(StateError, match="cannot evaluate n0 with the model its config describes.*schema"):
        write_report(fed.run_dir)


def test_report_of_a_simulation_folder_shows_its_spec(tmp_path: Path) -> None:
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
    assert files.accuracy is not None and _is_png(files.accuracy)


def test_report_of_a_simulation_shows_the_average_model(tmp_path: Path) -> None:
    """The simulator's `consensus_model` (the network's average, on each node's own data) gets a row."""
    ev = _evaluation()
    ev["consensus_model"] = {"acc_mean": 0.7512, "local_acc_mean": 0.6431, "local_acc_p10": 0.25}
    write_evaluation(tmp_path, ev)
    md = write_report(tmp_path).markdown.read_text()
    row = next(line for line in md.splitlines() if line.startswith("| the network's average model"))
    assert row.split(" | ")[1:] == ["75.1%", "n/a", "n/a", "n/a", "64.3%", "25.0% |"]
