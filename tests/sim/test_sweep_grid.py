"""Sweep files and grids (`p2pfed.sim.sweep.grid`): validation, grid expansion, point names, TOML literals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pfed.config import parse_override
from p2pfed.errors import ConfigError
from p2pfed.sim.sweep import expand_grid, load_sweep, point_name, toml_value

# ------------------------------------------------------------------------------------------
# a sweep file on disk (the executor's and the results' tests use it too)


def write_sweep(tmp: Path, grid: str, extra: str = "") -> Path:
    (tmp / "base.toml").write_text('[sim]\nname = "base"\n')
    path = tmp / "study.toml"
    path.write_text(f'spec = "base.toml"\nout = "{tmp / "out"}"\n{extra}\n[grid]\n{grid}\n')
    return path


GRID = '"churn.availability" = [1.0, 0.5]\n"sim.algorithm" = ["gossip", "dpsgd"]\n"sim.seed" = [0, 1, 2]\n'


# ------------------------------------------------------------------------------------------
# sweep file


def test_load_sweep_reads_the_example_format(tmp_path):
    sw = load_sweep(write_sweep(tmp_path, GRID), ["sim.duration=60"])
    assert sw.spec == (tmp_path / "base.toml").resolve()
    assert sw.out == tmp_path / "out"
    assert sw.keys == ("churn.availability", "sim.algorithm", "sim.seed")
    assert sw.grid[0] == ("churn.availability", (1.0, 0.5))
    assert sw.group_keys == ("churn.availability", "sim.algorithm")
    assert sw.overrides == ("sim.duration=60",)
    assert load_sweep(write_sweep(tmp_path, GRID), out=tmp_path / "elsewhere").out == tmp_path / "elsewhere"


def test_nested_grid_tables_mean_dotted_keys(tmp_path):
    (tmp_path / "base.toml").write_text("")
    (tmp_path / "n.toml").write_text('spec = "base.toml"\n[grid.churn]\navailability = [1.0, 0.5]\n')
    assert load_sweep(tmp_path / "n.toml").grid == (("churn.availability", (1.0, 0.5)),)
    assert load_sweep(tmp_path / "n.toml").out == Path("runs/n")  # default out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('spec = "base.toml"\nouts = "x"\n[grid]\n"sim.seed" = [0]\n', "unknown key(s) outs"),
        ('[grid]\n"sim.seed" = [0]\n', "missing or empty `spec`"),
        ('spec = "nope.toml"\n[grid]\n"sim.seed" = [0]\n', "spec 'nope.toml' not found"),
        ('spec = "base.toml"\n', "missing [grid]"),
        ('spec = "base.toml"\ngrid = 3\n', "`grid` must be a table"),
        ('spec = "base.toml"\n[grid]\n', "[grid] is empty"),
        ('spec = "base.toml"\n[grid]\n"sim.seed" = []\n', "grid.sim.seed is an empty array"),
        ('spec = "base.toml"\n[grid]\n"sim.seed" = 3\n', "grid.sim.seed must be an array of values, e.g. [3]"),
        ('spec = "base.toml"\n[grid]\n"sim.seed" = [1, 2, 1]\n', "grid.sim.seed lists 1 twice"),
        ('spec = "base.toml"\n[grid]\n"sim..seed" = [1]\n', "not a dotted key"),
        ('spec = "base.toml"\nout = 5\n[grid]\n"sim.seed" = [1]\n', "`out` must be a non-empty string"),
        ('spec = "base.toml"\nseed_key = 1\n[grid]\n"sim.seed" = [1]\n', "`seed_key` must be a dotted key"),
        ('spec = "base.toml"\n[grid\n', "not valid TOML"),
    ],
)
def test_bad_sweep_files_are_config_errors_naming_the_file(tmp_path, body, message):
    (tmp_path / "base.toml").write_text("")
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_sweep(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_missing_sweep_file_and_set_of_a_grid_key_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="sweep file not found"):
        load_sweep(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="sim.seed is swept by the grid"):
        load_sweep(write_sweep(tmp_path, GRID), ["sim.seed=4"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_sweep(write_sweep(tmp_path, GRID), ["sim.seed"])


# ------------------------------------------------------------------------------------------
# grid expansion and names


def test_points_are_the_cartesian_product_in_file_order_with_readable_names(tmp_path):
    points = expand_grid(load_sweep(write_sweep(tmp_path, GRID)).grid)
    assert len(points) == 12
    assert points[0].name == "churn.availability=1.0,sim.algorithm=gossip,sim.seed=0"
    assert points[1].name == "churn.availability=1.0,sim.algorithm=gossip,sim.seed=1"  # last key fastest
    assert points[-1].name == "churn.availability=0.5,sim.algorithm=dpsgd,sim.seed=2"
    assert points[4].overrides == ("churn.availability=1.0", 'sim.algorithm="dpsgd"', "sim.seed=1")
    assert point_name([("model.hidden", [128, 64]), ("data.path", "a b/c")]) == "model.hidden=128x64,data.path=a_b_c"


toml_values = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


grid_keys = st.from_regex(r"[a-z_]{1,4}(\.[a-z_\-]{1,4}){0,2}", fullmatch=True)


@given(
    st.lists(
        st.tuples(grid_keys, st.lists(toml_values, min_size=1, max_size=4)), min_size=1, max_size=3, unique_by=lambda kv: kv[0]
    )
)
def test_grid_count_is_the_product_and_names_are_unique_and_safe(grid):
    # the sweep file refuses a value listed twice
    grid = [(k, [v for i, v in enumerate(vals) if toml_value(v) not in {toml_value(w) for w in vals[:i]}]) for k, vals in grid]
    points = expand_grid(grid)
    assert len(points) == math.prod(len(vals) for _, vals in grid)
    names = [p.name for p in points]
    assert len(set(names)) == len(names)
    for p in points:
        assert 0 < len(p.name) <= 180 and "/" not in p.name and p.name not in (".", "..")
        for (key, value), item in zip(p.values, p.overrides):
            keys, parsed = parse_override(item)  # what load_spec will see
            assert ".".join(keys) == key and parsed == value


def test_names_that_sanitise_alike_stay_distinct():
    points = expand_grid([("data.path", ["a b", "a_b", "a/b"])])
    assert len({p.name for p in points}) == 3
    assert points[0].name.startswith("data.path=a_b~")


@given(st.floats(allow_nan=False) | st.integers(-(2**63), 2**63 - 1) | st.text() | st.booleans())
def test_toml_value_round_trips_through_parse_override(v):
    assert parse_override(f"k={toml_value(v)}")[1] == v
