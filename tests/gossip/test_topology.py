"""Tests of p2pfed.gossip.topology: spec parsing, every graph family, edge-list files, validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfed.errors import TopologyError
from p2pfed.gossip.topology import (
    FAMILIES,
    TopologySpec,
    build_graph,
    describe,
    format_edgelist,
    neighbours,
    parse_spec,
    validate,
)

REPO = Path(__file__).resolve().parents[2]
RANDOM_SPECS = ["k-regular:k=4", "erdos-renyi:p=0.3", "small-world:k=4,p=0.2"]


def ids(n: int, prefix: str = "n") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def edge_set(g: nx.Graph) -> set[frozenset[str]]:
    return {frozenset(e) for e in g.edges()}


def degrees(g: nx.Graph) -> list[int]:
    return [d for _, d in g.degree()]


# ---------------------------------------------------------------------------------------------
# parse_spec
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "params"),
    [
        ("ring", "ring", {}),
        ("  Complete ", "complete", {}),
        ("star", "star", {}),
        ("k-regular:k=4", "k-regular", {"k": 4}),
        ("erdos-renyi:p=0.3", "erdos-renyi", {"p": 0.3}),
        ("small-world: k = 4 , p = 0.1", "small-world", {"k": 4, "p": 0.1}),
        ("ring:min_degree=2,max_degree=2", "ring", {"min_degree": 2, "max_degree": 2}),
        ("file:topo/a.edgelist", "file", {"path": "topo/a.edgelist"}),
        ("file:a,b.edgelist,max_degree=3", "file", {"path": "a,b.edgelist", "max_degree": 3}),
    ],
)
def test_parse_spec_valid(text: str, name: str, params: dict[str, object]) -> None:
    spec = parse_spec(text)
    assert spec == TopologySpec(name, params)
    assert parse_spec(str(spec)) == spec  # str() is a canonical spec string


def test_every_family_is_covered() -> None:
    examples = ["ring", "complete", "star", "k-regular:k=2", "erdos-renyi:p=1", "small-world:k=2,p=0", "file:x"]
    assert {parse_spec(e).name for e in examples} == set(FAMILIES)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty topology spec"),
        ("   ", "empty topology spec"),
        ("torus", "unknown topology 'torus'"),
        ("ring:", "nothing after ':'"),
        ("k-regular", "needs k"),
        ("small-world:k=4", "needs p"),
        ("k-regular:k=four", "k must be an integer"),
        ("k-regular:k=2.5", "k must be an integer"),
        ("k-regular:k=0", "k must be >= 1"),
        ("erdos-renyi:p=abc", "p must be a probability"),
        ("erdos-renyi:p=1.5", "p must be a probability"),
        ("erdos-renyi:p=nan", "p must be a probability"),
        ("k-regular:k=4,k=3", "given twice"),
        ("k-regular:4", "is not KEY=VALUE"),
        ("k-regular:k=", "is not KEY=VALUE"),
        ("ring:min_degree=-1", "min_degree must be >= 0"),
        ("ring:min_degree=3,max_degree=2", "exceeds max_degree"),
        ("file:", "nothing after ':'"),
        ("file:min_degree=2", "names no file"),
    ],
)
def test_parse_spec_errors(text: str, fragment: str) -> None:
    with pytest.raises(TopologyError, match=fragment.replace("(", r"\(")):
        parse_spec(text)


def test_unknown_parameter_lists_the_valid_ones() -> None:
    with pytest.raises(TopologyError) as e:
        parse_spec("small-world:k=4,beta=0.1")
    msg = str(e.value)
    assert "'beta'" in msg and "valid: k, p, min_degree, max_degree" in msg


def test_unknown_family_lists_the_known_ones() -> None:
    with pytest.raises(TopologyError) as e:
        parse_spec("mesh")
    for example in ("ring", "k-regular:k=4", "erdos-renyi:p=0.3", "small-world:k=4,p=0.1", "file:"):
        assert example in str(e.value)


# ---------------------------------------------------------------------------------------------
# Deterministic families
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 4, 8, 25])
def test_ring(n: int) -> None:
    nodes = ids(n)
    g = build_graph("ring", nodes)
    assert list(g.nodes) == nodes
    assert g.number_of_edges() == n and set(degrees(g)) == {2}
    for i, x in enumerate(nodes):
        assert neighbours(g, x) == tuple(sorted({nodes[i - 1], nodes[(i + 1) % n]}))


@pytest.mark.parametrize("n", [2, 5, 12])
def test_complete(n: int) -> None:
    g = build_graph("complete", ids(n))
    assert g.number_of_edges() == n * (n - 1) // 2 and set(degrees(g)) == {n - 1}


@pytest.mark.parametrize("n", [2, 6, 20])
def test_star_first_node_is_the_hub(n: int) -> None:
    nodes = ids(n, "m")[::-1]  # the hub is nodes[0] whatever the names
    g = build_graph("star", nodes)
    assert g.number_of_edges() == n - 1
    assert g.degree(nodes[0]) == n - 1
    assert all(g.degree(x) == 1 for x in nodes[1:])


@pytest.mark.parametrize("spec", ["ring", "complete", "star", "erdos-renyi:p=0.5"])
def test_two_and_one_nodes(spec: str) -> None:
    g2 = build_graph(spec, ["a", "b"])
    assert edge_set(g2) == {frozenset({"a", "b"})}
    g1 = build_graph(spec, ["solo"])
    assert list(g1.nodes) == ["solo"] and g1.number_of_edges() == 0


# ---------------------------------------------------------------------------------------------
# Random families
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "k"), [(3, 2), (8, 2), (8, 3), (10, 4), (50, 2), (50, 5), (2, 1)])
def test_k_regular(n: int, k: int) -> None:
    g = build_graph(f"k-regular:k={k}", ids(n), seed=3)
    assert set(degrees(g)) == {k} and nx.is_connected(g)
    assert list(g.nodes) == ids(n)


@pytest.mark.parametrize("n", [5, 16, 60])
def test_erdos_renyi_is_connected(n: int) -> None:
    g = build_graph("erdos-renyi:p=0.3", ids(n), seed=1)
    assert nx.is_connected(g) and g.number_of_nodes() == n


@pytest.mark.parametrize(("n", "k", "p"), [(8, 4, 0.1), (30, 4, 0.3), (30, 6, 1.0), (10, 2, 0.0)])
def test_small_world(n: int, k: int, p: float) -> None:
    g = build_graph(f"small-world:k={k},p={p}", ids(n), seed=2)
    assert nx.is_connected(g) and g.number_of_edges() == n * k // 2
    if p == 0.0:  # no rewiring: the ring lattice
        assert set(degrees(g)) == {k}


@pytest.mark.parametrize("spec", ["ring", "complete", "star", *RANDOM_SPECS])
def test_same_inputs_same_graph(spec: str) -> None:
    a = build_graph(spec, ids(16), seed=5)
    b = build_graph(spec, ids(16), seed=5)
    assert edge_set(a) == edge_set(b)
    assert list(a.edges) == list(b.edges)  # even the iteration order


@pytest.mark.parametrize("spec", [*RANDOM_SPECS, "k-regular:k=2"])
def test_seed_changes_random_families(spec: str) -> None:
    graphs = {frozenset(edge_set(build_graph(spec, ids(16), seed=s))) for s in range(4)}
    assert len(graphs) > 1


def test_same_graph_in_another_process() -> None:
    """Edge sets must not depend on per-process string hashing (PYTHONHASHSEED)."""
    code = (
        "import json, sys; from p2pfed.gossip.topology import build_graph\n"
        "nodes = [f'user-{i}' for i in range(24)]\n"
        "out = {s: sorted(sorted(e) for e in build_graph(s, nodes, seed=11).edges())\n"
        f"       for s in {RANDOM_SPECS!r}}}\n"
        "print(json.dumps(out))\n"
    )
    results = []
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads(proc.stdout))
    nodes = [f"user-{i}" for i in range(24)]
    here = {s: sorted(sorted(e) for e in build_graph(s, nodes, seed=11).edges()) for s in RANDOM_SPECS}
    assert results[0] == results[1] == here


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 40), k=st.integers(2, 8), seed=st.integers(0, 2**32))
def test_property_k_regular_degrees_and_connected(n: int, k: int, seed: int) -> None:
    k = min(k, n - 1)
    if (n * k) % 2:
        k -= 1
    g = build_graph(f"k-regular:k={k}", ids(n), seed=seed)
    assert set(degrees(g)) == {k}
    assert nx.is_connected(g)
    assert g.number_of_edges() == n * k // 2


@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 40), half_k=st.integers(1, 3), p=st.floats(0, 1), seed=st.integers(0, 2**32))
def test_property_small_world_connected_with_nk_over_2_edges(n: int, half_k: int, p: float, seed: int) -> None:
    k = min(2 * half_k, n - 1 - (n - 1) % 2)
    g = build_graph(f"small-world:k={k},p={p}", ids(n), seed=seed)
    assert nx.is_connected(g) and g.number_of_edges() == n * k // 2
    assert nx.number_of_selfloops(g) == 0


# ---------------------------------------------------------------------------------------------
# Build errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "n", "fragment"),
    [
        ("k-regular:k=8", 8, "needs k < n"),
        ("k-regular:k=3", 7, "n\\*k must be even"),
        ("k-regular:k=1", 6, "never connected"),
        ("k-regular:k=2", 1, "more than one node"),
        ("small-world:k=3,p=0.1", 10, "must be even"),
        ("small-world:k=10,p=0.1", 10, "needs k < n"),
        ("erdos-renyi:p=0", 5, "no edges"),
        ("erdos-renyi:p=0.001", 200, "ln\\(n\\)/n"),
        ("ring:min_degree=3", 6, "degree below min_degree=3: n0, n1"),
        ("star:max_degree=3", 6, "degree above max_degree=3: n0"),
        ("complete:max_degree=2", 4, "above max_degree=2"),
    ],
)
def test_build_errors(spec: str, n: int, fragment: str) -> None:
    with pytest.raises(TopologyError, match=fragment):
        build_graph(spec, ids(n))


@pytest.mark.parametrize(
    ("nodes", "fragment"),
    [
        ([], "at least one node"),
        (["a", "b", "a"], "more than once: a"),
        (["a", "b c"], "without whitespace"),
        (["a", ""], "non-empty"),
        (["a", "x#y"], "'#'"),
    ],
)
def test_bad_node_lists(nodes: list[str], fragment: str) -> None:
    with pytest.raises(TopologyError, match=fragment):
        build_graph("ring", nodes)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed(seed: object) -> None:
    with pytest.raises(TopologyError, match="non-negative integer"):
        build_graph("k-regular:k=2", ids(5), seed=seed)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Edge-list files
# ---------------------------------------------------------------------------------------------


def test_example_file_is_the_ring() -> None:
    g = build_graph("file:topology/example-ring8.edgelist", ids(8), base_dir=REPO)
    assert edge_set(g) == edge_set(build_graph("ring", ids(8)))


def test_two_rings_example_file() -> None:
    g = build_graph("file:example-two-rings8.edgelist,min_degree=2", ids(8), base_dir=REPO / "topology")
    assert g.number_of_edges() == 10 and neighbours(g, "n0") == ("n1", "n3", "n4")


def test_file_comments_blank_lines_duplicates_and_node_order(tmp_path: Path) -> None:
    (tmp_path / "t.edgelist").write_text(
        "# a triangle plus a tail\n\n  a   b  # first\nb c\nc a\nc\td\nb a\n", encoding="utf-8"
    )
    g = build_graph("file:t.edgelist", ["d", "c", "b", "a"], base_dir=tmp_path)
    assert list(g.nodes) == ["d", "c", "b", "a"]
    assert edge_set(g) == {frozenset(e) for e in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]}


def test_file_absolute_path_ignores_base_dir(tmp_path: Path) -> None:
    f = tmp_path / "pair.txt"
    f.write_text("x y\n", encoding="utf-8")
    g = build_graph(f"file:{f}", ["x", "y"], base_dir=Path("/nonexistent"))
    assert edge_set(g) == {frozenset({"x", "y"})}


def test_file_relative_to_cwd_without_base_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pair.txt").write_text("x y\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert build_graph("file:pair.txt", ["x", "y"]).number_of_edges() == 1


@pytest.mark.parametrize(
    ("text", "nodes", "fragment"),
    [
        ("a b\nb zed\nq a\n", ["a", "b"], r"not members: 'zed' \(line 2\), 'q' \(line 3\)"),
        ("a b\nb b\n", ["a", "b"], r"t.edgelist:2: self-loop 'b'"),
        ("a b\nb c d\n", ["a", "b", "c", "d"], r"t.edgelist:2: expected two node ids"),
        ("a b\nc\n", ["a", "b", "c"], r"t.edgelist:2: expected two node ids"),
        ("a b\nb c\n", ["a", "b", "c", "d", "e"], "appear in no edge: d, e"),
        ("a b\nc d\n", ["a", "b", "c", "d"], "not connected: 2 components; .*: c, d"),
        ("# nothing\n", ["a", "b"], "appear in no edge: a, b"),
    ],
)
def test_file_errors(tmp_path: Path, text: str, nodes: list[str], fragment: str) -> None:
    (tmp_path / "t.edgelist").write_text(text, encoding="utf-8")
    with pytest.raises(TopologyError, match=fragment):
        build_graph("file:t.edgelist", nodes, base_dir=tmp_path)


def test_file_unreadable(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="not found"):
        build_graph("file:missing.edgelist", ["a", "b"], base_dir=tmp_path)
    with pytest.raises(TopologyError, match="is a directory"):
        build_graph("file:.", ["a", "b"], base_dir=tmp_path)
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00a b")
    with pytest.raises(TopologyError, match="not UTF-8"):
        build_graph("file:bin", ["a", "b"], base_dir=tmp_path)


def test_format_edgelist_round_trips(tmp_path: Path) -> None:
    g = build_graph("small-world:k=4,p=0.3", ids(12), seed=9)
    (tmp_path / "frozen.edgelist").write_text(format_edgelist(g), encoding="utf-8")
    h = build_graph("file:frozen.edgelist", ids(12), base_dir=tmp_path)
    assert edge_set(g) == edge_set(h)


# ---------------------------------------------------------------------------------------------
# validate, neighbours, describe
# ---------------------------------------------------------------------------------------------


def test_validate_names_cut_off_nodes() -> None:
    g = nx.Graph([("a", "b"), ("b", "c"), ("x", "y")])
    g.add_node("lonely")
    with pytest.raises(TopologyError, match="3 components; nodes cut off from the largest one: lonely, x, y"):
        validate(g)


def test_validate_other_errors() -> None:
    with pytest.raises(TopologyError, match="no nodes"):
        validate(nx.Graph())
    with pytest.raises(TopologyError, match="self-loops at: a"):
        validate(nx.Graph([("a", "a"), ("a", "b")]))
    path = nx.Graph([("a", "b"), ("b", "c")])
    validate(path)
    validate(path, min_degree=1, max_degree=2)
    with pytest.raises(TopologyError, match="below min_degree=2: a, c"):
        validate(path, min_degree=2)
    with pytest.raises(TopologyError, match="above max_degree=1: b"):
        validate(path, max_degree=1)


def test_validate_lists_at_most_ten_names() -> None:
    g = nx.star_graph(30)
    g = nx.relabel_nodes(g, {i: f"n{i:02d}" for i in g})
    with pytest.raises(TopologyError, match=r"n10 \.\.\. and 20 more"):
        validate(g, min_degree=2)


def test_neighbours_unknown_node() -> None:
    g = build_graph("ring", ids(4))
    with pytest.raises(TopologyError, match="'n9' is not a node"):
        neighbours(g, "n9")


def test_describe() -> None:
    d = describe(build_graph("star", ids(5)))
    assert d == {
        "n": 5, "edges": 4, "degree_min": 1, "degree_mean": 1.6, "degree_max": 4,
        "diameter": 2, "is_connected": True,
    }
    d2 = describe(nx.Graph([("a", "b"), ("c", "d")]))
    assert d2["diameter"] is None and d2["is_connected"] is False
    assert describe(nx.Graph())["n"] == 0
