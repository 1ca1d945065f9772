"""Tests of p2pfed.sim.churn.trace: reading, checking, replaying and writing churn traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2pfed.errors import ConfigError, DataError
from p2pfed.sim.churn import ChurnConfig, Schedule, format_trace, read_trace, schedule


def ids(n: int, prefix: str = "n") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def transitions(sched: Schedule) -> list[tuple[float, str, bool]]:
    return [(e.time, e.node, e.up) for e in sched.events]


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_trace_is_replayed_clipped_and_merged(tmp_path: Path) -> None:
    write(
        tmp_path,
        "node,start,end\n"
        "b, 50, 80\n"
        "a,0,10\n"
        "\n"
        "a,30,40\n"
        "a,10,20\n"  # touches [0, 10): merged into [0, 20)
        "b,90,150\n"  # clipped at the horizon
        "a,100,130\n",  # starts at the horizon: dropped
    )
    cfg = ChurnConfig(model="trace", trace="trace.csv", crash_fraction=0.0)
    sched = schedule(cfg, ["a", "b", "c"], 100.0, seed=0, base_dir=tmp_path)
    assert sched.initial_online == {"a"}
    assert [(e.time, e.node, e.up) for e in sched.events] == [
        (20.0, "a", False),
        (30.0, "a", True),
        (40.0, "a", False),
        (50.0, "b", True),
        (80.0, "b", False),
        (90.0, "b", True),
    ]
    assert sched.online_intervals("c") == ()  # absent from the trace: offline throughout
    assert sched.online_intervals("b") == ((50.0, 80.0), (90.0, 100.0))
    merged = read_trace(tmp_path / "trace.csv", ["a", "b", "c"])
    assert merged["a"] == ((0.0, 20.0), (30.0, 40.0), (100.0, 130.0))


def test_trace_relative_path_needs_the_right_base_dir(tmp_path: Path) -> None:
    write(tmp_path, "node,start,end\na,1,2\n")
    cfg = ChurnConfig(model="trace", trace="trace.csv")
    with pytest.raises(ConfigError, match="trace.csv not found"):
        schedule(cfg, ["a"], 10.0, seed=0, base_dir=tmp_path / "elsewhere")
    assert len(schedule(cfg, ["a"], 10.0, seed=0, base_dir=tmp_path).events) == 2


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        ("", DataError, "the file is empty; it needs the header 'node,start,end'"),
        ("id,from,to\na,1,2\n", DataError, ":1: the first line must be the header 'node,start,end', got 'id"),
        ("node,start,end\na,1,2,3\n", DataError, ":2: expected 3 fields node,start,end, got 4"),
        ("node,start,end\na,1\n", DataError, ":2: expected 3 fields node,start,end, got 2"),
        ("node,start,end\na,1,2\na,soon,5\n", DataError, ":3: start 'soon' is not a number of seconds"),
        ("node,start,end\na,1,nan\n", DataError, ":2: end 'nan' must be a finite number of seconds"),
        ("node,start,end\na,-5,2\n", DataError, ":2: start -5 is negative"),
        ("node,start,end\na,5,5\n", DataError, ":2: end 5 must be after start 5"),
        ("node,start,end\n,1,2\n", DataError, ":2: the node id is empty"),
        (
            "node,start,end\na,0,10\nb,0,10\na,5,20\n",
            DataError,
            ":4: interval [5, 20) of node 'a' overlaps its interval ending at 10 on line 2",
        ),
        (
            "node,start,end\na,0,10\nzed,1,2\nzed,3,4\nq,1,2\n",
            DataError,
            "the trace names nodes that are not simulated: 'zed' (line 3), 'q' (line 5); nodes are a, b",
        ),
    ],
)
def test_bad_traces_name_the_file_and_line(
    tmp_path: Path, text: str, error: type[Exception], fragment: str
) -> None:
    path = write(tmp_path, text)
    cfg = ChurnConfig(model="trace", trace=str(path))
    with pytest.raises(error) as e:
        schedule(cfg, ["a", "b"], 100.0, seed=0)
    assert fragment in str(e.value)
    assert str(path) in str(e.value)


def test_trace_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        schedule(ChurnConfig(model="trace", trace=str(tmp_path)), ["a"], 10.0, 0)
    (tmp_path / "bin.csv").write_bytes(b"node,start,end\n\xff\xfe,1,2\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        schedule(ChurnConfig(model="trace", trace="bin.csv"), ["a"], 10.0, 0, base_dir=tmp_path)


@pytest.mark.parametrize("preset_model", ["markov", "bernoulli", "diurnal"])
def test_format_trace_replays_a_drawn_schedule_exactly(tmp_path: Path, preset_model: str) -> None:
    cfg = ChurnConfig(
        preset="smartphone", model=preset_model, late_join_fraction=0.2, late_join_window=3600.0
    )
    drawn = schedule(cfg, ids(40), 6 * 3600.0, seed=12)
    write(tmp_path, format_trace(drawn), "drawn.csv")
    replay_cfg = ChurnConfig(model="trace", trace="drawn.csv")
    replay = schedule(replay_cfg, ids(40), 6 * 3600.0, 12, base_dir=tmp_path)
    assert replay.initial_online == drawn.initial_online
    assert transitions(replay) == transitions(drawn)
