"""The `p2pfed` command line, as a user runs it (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from p2pfed.wire.crypto import read_key_file


def p2pfed(*args: str, timeout: float = 60, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "p2pfed", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def test_help_lists_commands():
    r = p2pfed("--help")
    assert r.returncode == 0
    for cmd in ("keygen", "node", "launch"):
        assert cmd in r.stdout
    assert p2pfed("--version").stdout.startswith("p2pfed ")


def test_keygen_writes_0600_key_and_prints_roster_entry(tmp_path):
    r = p2pfed("keygen", "--out", str(tmp_path / "keys"), "--id", "pi1", "--address", "tcp://192.168.1.21:7700")
    assert r.returncode == 0, r.stderr
    key = tmp_path / "keys" / "pi1.key"
    assert key.stat().st_mode & 0o777 == 0o600
    pub = read_key_file(key).public_key_b64
    assert f'public_key = "{pub}"' in r.stdout and 'id = "pi1"' in r.stdout
    again = p2pfed("keygen", "--out", str(tmp_path / "keys"), "--id", "pi1")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = p2pfed("keygen", "--out", str(tmp_path / "keys"), "--id", "x", "--address", "http://nope")
    assert bad.returncode == 2 and "tcp://HOST:PORT" in bad.stderr


def test_node_run_user_errors_are_messages_not_tracebacks(tmp_path):
    r = p2pfed("node", "run", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "file not found" in r.stderr and "Traceback" not in r.stderr
    cfg = tmp_path / "n.toml"
    cfg.write_text('[node]\nid = "a"\nkey = "a.key"\nroster = "roster.toml"\n')
    r = p2pfed("node", "run", "--config", str(cfg), "--set", "gossip.period=fast")
    assert r.returncode == 2 and "gossip.period must be a number" in r.stderr
    r = p2pfed("node", "run", "--config", str(cfg))
    assert r.returncode == 2 and "p2pfed keygen" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_launch_small_federation_end_to_end(tmp_path):
    out = tmp_path / "run"
    r = p2pfed("launch", "--nodes", "3", "--topology", "ring", "--duration", "6", "--out", str(out), "--set", "gossip.period=0.5", timeout=170)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "local-only" in r.stdout and "central" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["nodes"] == 3 and summary["run"]["abnormal_exits"] == {}
    assert summary["gossip"]["exchanges"] > 10
    assert summary["gossip"]["rejections"] == {}
    for key in ("local_only", "central"):
        assert 0 < summary["baselines"][key]["heldout_acc"] <= 1
    assert (out / "summary.md").read_text().startswith("# p2pfed run summary")
    for i in ("n0", "n1", "n2"):
        assert (out / "keys" / f"{i}.key").stat().st_mode & 0o777 == 0o600
        assert "stopped cleanly" in (out / "logs" / f"{i}.log").read_text()
    assert not [p for p in os.listdir(out / "state" / "n0") if p.endswith(".tmp")]


def test_launch_rejects_bad_override_before_starting(tmp_path):
    r = p2pfed("launch", "--nodes", "2", "--topology", "ring", "--out", str(tmp_path / "r"), "--set", "gossip.nope=1")
    assert r.returncode == 2 and "unknown key" in r.stderr and "gossip.nope" in r.stderr
    assert not (tmp_path / "r").exists()  # nothing written


def _node_pids(run_dir) -> list[int]:
    """PIDs of node processes started from `run_dir` (scans /proc; Linux)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = open(f"/proc/{d}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if "node\0run" in cmd and str(run_dir) in cmd:
                pids.append(int(d))
    return pids


def _wait_for(cond, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def _default_sigint() -> None:
    # a test run started as a background job of a non-interactive shell (nohup ... &) inherits
    # SIGINT = ignored, and so would the launcher: give it the default Ctrl-C behaviour back
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_launcher(out):
    proc = subprocess.Popen(
        [sys.executable, "-m", "p2pfed", "launch", "--nodes", "3", "--topology", "ring", "--duration", "0", "--out", str(out), "--no-baselines"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    up = _wait_for(lambda: all((out / "state" / f"n{i}" / "metrics.jsonl").exists() for i in range(3)), 90)
    assert up, "nodes did not come up"
    return proc


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_ctrl_c_stops_every_node_cleanly_and_still_summarises(tmp_path):
    import signal

    out = tmp_path / "run"
    proc = _start_launcher(out)
    assert len(_node_pids(out)) == 3
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "interrupted" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["interrupted"] is True and summary["run"]["abnormal_exits"] == {}
    assert _node_pids(out) == []
    for i in range(3):
        assert "stopped cleanly" in (out / "logs" / f"n{i}.log").read_text()


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_nodes_exit_when_the_launcher_is_killed(tmp_path):
    import signal

    out = tmp_path / "run"
    proc = _start_launcher(out)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert _wait_for(lambda: _node_pids(out) == [], 20), "orphaned node processes"
    for i in range(3):
        assert "parent process" in (out / "logs" / f"n{i}.log").read_text()
