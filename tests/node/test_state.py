"""Node state is written atomically and refuses to load into the wrong node or model."""

from __future__ import annotations

import os

import numpy as np
import pytest

from p2pfed.errors import StateError
from p2pfed.node.state import STATE_FILE, NodeState, load_state, save_state


def state(**kw) -> NodeState:
    base = dict(
        node_id="n0",
        schema="abc",
        params=np.arange(10, dtype="<f4"),
        age=5,
        seq_reserved=123,
        replay_marks={"n1": 9},
        counters={"exchanges": 3, "rejections": {"replay": 1}},
        optimizer={"m0": np.ones(3, "<f4")},
        samples_drawn=4096,
        saved_at=1.0,
        started=2,
    )
    base.update(kw)
    return NodeState(**base)


def test_round_trip(tmp_path):
    save_state(tmp_path, state())
    got = load_state(tmp_path, "n0", "abc")
    assert got is not None
    np.testing.assert_array_equal(got.params, np.arange(10))
    assert (got.age, got.seq_reserved, got.replay_marks, got.started, got.samples_drawn) == (5, 123, {"n1": 9}, 2, 4096)
    assert got.counters["rejections"] == {"replay": 1}
    np.testing.assert_array_equal(got.optimizer["m0"], np.ones(3))
    assert (tmp_path / STATE_FILE).stat().st_mode & 0o777 == 0o600
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_missing_state_is_none(tmp_path):
    assert load_state(tmp_path, "n0", "abc") is None


def test_wrong_node_or_schema_or_corrupt(tmp_path):
    save_state(tmp_path, state())
    with pytest.raises(StateError, match="belongs to node"):
        load_state(tmp_path, "n9", "abc")
    with pytest.raises(StateError, match="schema"):
        load_state(tmp_path, "n0", "other")
    (tmp_path / STATE_FILE).write_bytes(b"garbage")
    with pytest.raises(StateError, match="unreadable"):
        load_state(tmp_path, "n0", "abc")


def test_crash_during_write_keeps_previous_state(tmp_path, monkeypatch):
    save_state(tmp_path, state(age=1))

    def boom(*a, **k):
        raise OSError("disk died mid-rename")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        save_state(tmp_path, state(age=2))
    monkeypatch.undo()
    got = load_state(tmp_path, "n0", "abc")
    assert got is not None and got.age == 1
