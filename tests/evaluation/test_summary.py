"""Run summaries: aggregates, baselines comparison, Markdown."""

from p2pfed.evaluation.summary import summarize, to_markdown, verdict


def test_summarize_aggregates(final, base):  # type: ignore[no-untyped-def]
    s = summarize(final, base, {"nodes": 2})
    g = s["gossip"]
    assert abs(g["heldout_acc"]["mean"] - 0.85) < 1e-12 and g["heldout_acc"]["min"] == 0.8
    assert g["local_acc"]["mean"] == 0.9  # missing values are skipped, not zeros
    assert (g["exchanges"], g["train_steps"], g["rejections"]) == (22, 190, {"replay": 1})


def test_verdict_and_markdown(final, base):  # type: ignore[no-untyped-def]
    s = summarize(final, base)
    assert verdict(s) == "gossip: +25.0 points over local-only training, 5.0 points below central training; no server, and no data left any node"
    better = summarize({"n0": {**final["n0"], "heldout_acc": 0.92}}, base)
    assert "level with central training (+2.0 points)" in verdict(better)
    md = to_markdown(s)
    assert "| each node alone (local-only) | 60.0% | 85.0% |" in md and "| n1 | 90.0% | n/a |" in md
    assert verdict(summarize(final)) == ""
