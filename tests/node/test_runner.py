"""Node assembly from config and the async driver, in-process on the memory network."""

from __future__ import annotations

import asyncio
import os

import pytest

from p2pfed.config import load_node_config
from p2pfed.wire.crypto import Identity, write_key_file
from p2pfed.errors import ConfigError, KeyFileError
from p2pfed.launch.local import LaunchSpec, LocalFederation
from p2pfed.node.metrics import read_jsonl
from p2pfed.node.runner import assemble
from p2pfed.node.state import STATE_FILE
from p2pfed.transport.memory import MemoryNetwork

FAST = ("gossip.period=0.2", "liveness.heartbeat_interval=0.2", "runtime.metrics_interval=0.5", "runtime.checkpoint_interval=0.5")


@pytest.fixture
def run(tmp_path):
    return LocalFederation.prepare(LaunchSpec(nodes=3, topology="ring", out=str(tmp_path / "run"), overrides=FAST))


def memory_factory(net: MemoryNetwork, node_id: str):
    return lambda listen, addresses, max_bytes: net.endpoint(node_id)


async def run_nodes(fed: LocalFederation, net: MemoryNetwork, seconds: float):
    nodes = [assemble(fed.node_config(i), transport_factory=memory_factory(net, i)) for i in fed.ids]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(n.driver.run(stop)) for n in nodes]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    return nodes


async def test_nodes_gossip_checkpoint_and_resume(run):
    net = MemoryNetwork()
    nodes = await run_nodes(run, net, 4.0)
    for n in nodes:
        assert not n.resumed
        assert n.core.counters.exchanges > 3 and n.core.counters.rejected == 0
        state_dir = run.run_dir / "state" / n.cfg.node.id
        assert (state_dir / STATE_FILE).exists()
        recs = read_jsonl(state_dir / "metrics.jsonl")
        assert len(recs) >= 3 and recs[-1]["final"] is True
        assert 0 <= recs[-1]["local_acc"] <= 1 and recs[-1]["heldout_acc"] is not None
    # restart all three: state is resumed, sequence numbers continue above the old ones
    old = {n.cfg.node.id: (n.core.age, n.wire.seq.reserved) for n in nodes}
    net2 = MemoryNetwork()
    again = await run_nodes(run, net2, 2.0)
    for n in again:
        age, reserved = old[n.cfg.node.id]
        assert n.resumed and n.core.age > age
        assert n.learner.samples_drawn > age * 32 * 0.9  # the batch stream continued, not restarted
        assert n.core.counters.rejections.get("replay", 0) == 0
        assert n.wire.seq.reserved > reserved


def test_refuses_group_readable_key(run):
    key = run.run_dir / "keys" / "n0.key"
    os.chmod(key, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        assemble(run.node_config("n0"))


def test_refuses_key_that_does_not_match_roster(run):
    write_key_file(run.run_dir / "keys" / "n0.key", Identity.generate(), force=True)
    with pytest.raises(ConfigError, match="is not the one the roster lists"):
        assemble(run.node_config("n0"))


def test_refuses_id_not_on_roster(run):
    cfg = load_node_config(run.procs["n0"].config, ["node.id=stranger"])
    with pytest.raises(ConfigError, match="not on the roster"):
        assemble(cfg)


def test_explicit_neighbours_must_be_members(run):
    cfg = load_node_config(run.procs["n0"].config, ['node.neighbours=["n1", "ghost"]'])
    with pytest.raises(ConfigError, match="ghost"):
        assemble(cfg)


def test_bad_topology_fails_before_anything_starts(tmp_path):
    with pytest.raises(Exception, match="k"):
        LocalFederation.prepare(LaunchSpec(nodes=3, topology="k-regular:k=5", out=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
