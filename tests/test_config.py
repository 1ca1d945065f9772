"""TOML config loading: defaults, overrides, clear errors, path resolution, the roster."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pfed.config import (
    Member,
    NodeConfig,
    build,
    load_node_config,
    load_roster,
    parse_override,
)
from p2pfed.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
KEY = base64.b64encode(b"k" * 32).decode()


def write(tmp_path: Path, text: str, name: str = "node.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_minimal_config_gets_defaults_and_resolves_paths(tmp_path):
    p = write(tmp_path, '[node]\nid = "a"\nkey = "k/a.key"\nroster = "/abs/roster.toml"\n')
    cfg = load_node_config(p)
    assert cfg.node.key == str(tmp_path / "k/a.key")
    assert cfg.node.roster == "/abs/roster.toml"
    assert cfg.node.state_dir == str(tmp_path / "state")
    assert cfg.gossip.period == 0.5 and cfg.model.local_steps == 5 and cfg.model.hidden == (64,)


def test_overrides(tmp_path):
    p = write(tmp_path, '[node]\nid = "a"\nkey = "k"\nroster = "r"\n')
    cfg = load_node_config(p, ["gossip.period=0.25", "model.hidden=[32, 16]", "data.source=npz", "node.log_level=DEBUG"])
    assert cfg.gossip.period == 0.25 and cfg.model.hidden == (32, 16) and cfg.data.source == "npz"
    assert cfg.node.log_level == "DEBUG"
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_node_config(p, ["gossip.period"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_node_config(p, ["gossip.perod=1"])


@pytest.mark.parametrize(
    "text, message",
    [
        ('[node]\nid = "a"\nkey = "k"\n', "missing required key node.roster"),
        ('[node]\nid = "a"\nkey = "k"\nroster = "r"\n[gossip]\nperiod = "fast"\n', "gossip.period must be a number"),
        ('[node]\nid = "a"\nkey = "k"\nroster = "r"\n[gossip]\nperiod = -1\n', "gossip.period must be > 0"),
        ('[node]\nid = "a"\nkey = "k"\nroster = "r"\n[model]\nhidden = 64\n', "model.hidden must be an array"),
        ('[node]\nid = "a"\nkey = "k"\nroster = "r"\n[model]\nbatch_size = 1.5\n', "must be an integer"),
        ('[node]\nid = "a"\nkey = "k"\nroster = "r"\n[runtime]\ntrain = 1\n', "true or false"),
        ('[node]\nid = "a b"\nkey = "k"\nroster = "r"\n', "node.id"),
        ('[node]\nid = "a"\nkey = "k"\nroster = "r"\n[bogus]\nx = 1\n', "unknown key"),
        ("[node\n", "not valid TOML"),
    ],
)
def test_clear_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_node_config(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_node_config(tmp_path / "nope.toml")


def test_example_node_config_and_roster_parse():
    cfg = load_node_config(REPO / "nodes" / "example.toml")
    assert isinstance(cfg, NodeConfig) and cfg.node.id == "pi1"
    text = (REPO / "nodes" / "roster.example.toml").read_text()
    with pytest.raises(ConfigError, match="public_key must be the base64"):  # placeholders
        load_roster(REPO / "nodes" / "roster.example.toml")
    assert text.count("\n[[member]]\n") == 3


def test_roster(tmp_path):
    p = write(
        tmp_path,
        f'[federation]\ntopology = "ring"\n[[member]]\nid = "a"\npublic_key = "{KEY}"\naddress = "tcp://127.0.0.1:7000"\n'
        f'[[member]]\nid = "b"\npublic_key = "{base64.b64encode(b"j" * 32).decode()}"\naddress = "tcp://[::1]:7001"\n',
        "roster.toml",
    )
    r = load_roster(p)
    assert r.ids == ("a", "b") and r.get("b").address == "tcp://[::1]:7001"
    with pytest.raises(ConfigError, match="not on the roster"):
        r.get("zz")


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(id="a", public_key="nope", address="tcp://h:1"), "base64 of 32 bytes"),
        (dict(id="a", public_key=KEY, address="http://h:1"), "tcp://HOST:PORT"),
        (dict(id="a", public_key=KEY, address="tcp://h:99999"), "tcp://HOST:PORT"),
        (dict(id="-a", public_key=KEY, address="tcp://h:1"), "member id"),
    ],
)
def test_member_validation(kw, message):
    with pytest.raises(ConfigError, match=message):
        Member(**kw)


def test_roster_duplicates(tmp_path):
    m = f'[[member]]\nid = "a"\npublic_key = "{KEY}"\naddress = "tcp://h:1"\n'
    with pytest.raises(ConfigError, match="more than once"):
        load_roster(write(tmp_path, m + m, "r.toml"))
    with pytest.raises(ConfigError, match="no members"):
        load_roster(write(tmp_path, "[federation]\n", "r2.toml"))


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.text(alphabet="abc xyz_-", max_size=10)))
def test_override_values_parse_as_toml_else_string(value):
    raw = {bool: lambda v: str(v).lower()}.get(type(value), str)(value)
    keys, parsed = parse_override(f"a.b={raw}")
    assert keys == ["a", "b"]
    if isinstance(value, str):
        assert parsed == value.strip() or parsed == raw.strip()
    else:
        assert parsed == value


def test_build_rejects_non_table():
    with pytest.raises(ConfigError, match="expected a table"):
        build(NodeConfig, [1, 2])
