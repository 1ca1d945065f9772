"""Launch runs evaluated from the models their nodes saved."""

from pathlib import Path

import pytest

from p2pfed.errors import DataError
from p2pfed.evaluation.launch_run import load_or_evaluate
from p2pfed.evaluation.report import write_report
from p2pfed.evaluation.scoring import read_evaluation


def test_launch_run_is_evaluated_from_saved_models(launch_run, is_png) -> None:  # type: ignore[no-untyped-def]
    from p2pfed.data import load_heldout

    fed, learners = launch_run()
    files = write_report(fed.run_dir)
    assert files.computed and files.evaluation.is_file() and is_png(files.confusion)
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


def test_launch_run_with_head_personalisation_uses_each_nodes_head(launch_run) -> None:  # type: ignore[no-untyped-def]
    fed, learners = launch_run(overrides=("model.personalize='head'",), nodes=2)
    ev, _ = load_or_evaluate(fed.run_dir)
    for node_id, (lrn, params, d) in learners.items():
        assert ev["nodes"][node_id]["local"]["accuracy"] == pytest.approx(lrn.evaluate(params, d.test).accuracy)
    assert "shared_model" not in ev


def test_launch_run_with_finetuning_also_reports_the_shared_model(launch_run) -> None:  # type: ignore[no-untyped-def]
    fed, learners = launch_run(overrides=("model.personalize='finetune'", "model.finetune_steps=15"), nodes=2)
    files = write_report(fed.run_dir)
    ev = read_evaluation(fed.run_dir)
    for node_id, (lrn, params, d) in learners.items():
        assert ev["nodes"][node_id]["local"]["accuracy"] == pytest.approx(lrn.evaluate(params, d.test).accuracy)
        assert ev["shared_model"]["nodes"][node_id]["local"]["accuracy"] == pytest.approx(lrn.inner.evaluate(params, d.test).accuracy)
    assert "| shared model, not fine-tuned |" in files.markdown.read_text()


def test_launch_run_skips_nodes_without_state_and_needs_one(launch_run) -> None:  # type: ignore[no-untyped-def]
    fed, _ = launch_run(nodes=3, steps=5)
    (fed.run_dir / "state" / "n1" / "state.npz").unlink()
    write_report(fed.run_dir)
    ev = read_evaluation(fed.run_dir)
    assert sorted(ev["nodes"]) == ["n0", "n2"] and ev["source"]["nodes"] == 3
    assert "2 nodes evaluated (of 3)" in (fed.run_dir / "report.md").read_text()
    for node_id in ("n0", "n2"):
        (fed.run_dir / "state" / node_id / "state.npz").unlink()
    with pytest.raises(DataError, match="no node has saved a model"):
        write_report(fed.run_dir, recompute=True)


def test_launch_run_on_person_data_groups_by_subject(launch_run, uci_hapt: Path) -> None:  # type: ignore[no-untyped-def]
    fed, _ = launch_run(data=str(uci_hapt / "tiny.npz"), nodes=2, steps=10)
    ev = read_evaluation(fed.run_dir) if (fed.run_dir / "evaluation.json").exists() else None
    assert ev is None
    write_report(fed.run_dir)
    ev = read_evaluation(fed.run_dir)
    assert {e["group"] for e in ev["nodes"].values()} == {f"subject {s}" for s in fed.subjects}
    assert ev["label_names"][0] == "WALKING"


def test_launch_run_whose_models_do_not_fit_the_config(launch_run) -> None:  # type: ignore[no-untyped-def]
    """E.g. nodes that ran without personalisation, evaluated with model.personalize = 'head'."""
    import tomllib

    import tomli_w

    from p2pfed.errors import StateError

    fed, _ = launch_run(nodes=2, steps=1)
    for path in (fed.run_dir / "nodes").glob("*.toml"):
        doc = tomllib.loads(path.read_text())
        doc["model"]["personalize"] = "head"
        path.write_text(tomli_w.dumps(doc))
    with pytest.raises(StateError, match="cannot evaluate n0 with the model its config describes.*schema"):
        write_report(fed.run_dir)
