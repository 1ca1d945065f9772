"""Run summaries: aggregates, baselines comparison, Markdown."""

from p2pfed.report import summarize, to_markdown, verdict

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
