"""Counters serialise losslessly; the JSONL log survives a torn last line."""

from p2pfed.gossip.counters import Counters
from p2pfed.node.metrics import MetricsLog, read_jsonl


def test_counters_round_trip():
    c = Counters(exchanges=3, bytes_in=10)
    c.reject("replay")
    c.reject("replay")
    c.reject("bad_signature")
    d = c.as_dict()
    assert d["rejections"] == {"bad_signature": 1, "replay": 2}
    c2 = Counters.from_dict(d)
    assert c2 == c and c2.rejected == 3


def test_jsonl_and_torn_line(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    log.write({"a": 1, "x": float("nan")})
    log.write({"a": 2})
    log.close()
    with (tmp_path / "m.jsonl").open("a") as f:
        f.write('{"a": 3, "tor')
    assert read_jsonl(tmp_path / "m.jsonl") == [{"a": 1, "x": None}, {"a": 2}]
    assert read_jsonl(tmp_path / "missing.jsonl") == []
