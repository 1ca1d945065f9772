"""Five real node processes on loopback; one is killed with SIGKILL mid-run and restarted.

Asserts: the others never stall (exchanges keep rising while it is dead), the restarted node
resumes from its persisted state and is accepted (never rejected as a replay), it catches up,
accuracy rises over the run, and SIGTERM stops every node cleanly.
"""

from __future__ import annotations

import signal
import time

import pytest

from p2pfed.launch.local import LaunchSpec, LocalFederation

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

VICTIM = "n2"


def latest(fed: LocalFederation) -> dict[str, dict]:
    return fed.snapshot()


def wait_lines(fed: LocalFederation, node: str, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(fed.records(node)) < count:
        assert fed.procs[node].running, f"{node} died:\n{fed.log_tail(node)}"
        assert time.monotonic() < deadline, f"{node} wrote no new metrics:\n{fed.log_tail(node)}"
        time.sleep(0.2)


def test_sigkill_restart_under_gossip(tmp_path):
    spec = LaunchSpec(
        nodes=5,
        topology="ring",
        out=str(tmp_path / "run"),
        overrides=(
            "gossip.period=0.5",
            "liveness.heartbeat_interval=0.5",
            "liveness.peer_timeout=2.0",
            "runtime.checkpoint_interval=0.5",
            "runtime.metrics_interval=0.5",
        ),
    )
    fed = LocalFederation.prepare(spec)
    fed.start_all()
    try:
        fed.wait_until_up(timeout=120)
        first = {i: recs[0] for i in fed.ids if (recs := fed.records(i))}
        time.sleep(8)

        # --- kill one node with SIGKILL mid-run -------------------------------------------------
        at_kill = latest(fed)
        fed.kill(VICTIM, signal.SIGKILL)
        assert fed.procs[VICTIM].popen.returncode == -signal.SIGKILL
        lines_at_kill = len(fed.records(VICTIM))
        time.sleep(8)
        during = latest(fed)
        for i in fed.ids:
            if i == VICTIM:
                continue
            assert during[i]["exchanges"] > at_kill[i]["exchanges"] + 3, f"{i} stalled while {VICTIM} was dead"
            assert during[i]["elapsed"] > at_kill[i]["elapsed"] + 5, f"{i} stopped reporting"
        for nb in ("n1", "n3"):  # the victim's ring neighbours noticed and skip it
            assert during[nb]["alive"] == 1, during[nb]

        # --- restart it: it resumes from disk and is accepted -----------------------------------
        fed.start(VICTIM)
        wait_lines(fed, VICTIM, lines_at_kill + 1)
        log_text = fed.procs[VICTIM].log_path.read_text()
        assert "resumed (start #2" in log_text, log_text[-2000:]
        restarted = fed.records(VICTIM)[lines_at_kill]
        assert restarted["train_steps"] >= at_kill[VICTIM]["train_steps"] * 0.5  # state survived kill -9
        time.sleep(12)
        end = latest(fed)
    finally:
        codes = fed.stop_all()

    assert all(c == 0 for c in codes.values()), codes  # SIGTERM: clean shutdown everywhere
    final = latest(fed)
    assert all(r["final"] for r in final.values())
    for i, r in final.items():
        assert r["rejections"].get("replay", 0) == 0, f"{i} rejected the restarted node as a replayer"
        assert sum(r["rejections"].values()) == 0, (i, r["rejections"])
        assert r["internal_errors"] == 0
    # the restarted node took part again, and caught up with the others
    assert end[VICTIM]["exchanges"] > restarted["exchanges"] + 5
    others = [end[i]["heldout_acc"] for i in fed.ids if i != VICTIM]
    assert end[VICTIM]["heldout_acc"] >= min(others) - 0.05
    # accuracy rose over the run
    mean = lambda recs: sum(r["heldout_acc"] for r in recs) / len(recs)  # noqa: E731
    assert mean(final.values()) > mean(first.values()) + 0.10
