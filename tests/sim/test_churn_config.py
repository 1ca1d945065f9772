"""Tests of p2pfed.sim.churn.config: the [churn] table, its validation, presets and resolve()."""

from __future__ import annotations

import math

import numpy as np
import pytest

from p2pfed.config import build
from p2pfed.errors import ConfigError
from p2pfed.sim.churn import PRESETS, ChurnConfig, resolve, schedule

SMARTPHONE = ChurnConfig(preset="smartphone")


def ids(n: int, prefix: str = "n") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_default_config_is_no_churn() -> None:
    cfg = resolve(ChurnConfig())
    assert cfg.model == "none"
    sched = schedule(cfg, ids(5), 1000.0, seed=0)
    assert sched.initial_online == frozenset(ids(5)) and sched.events == ()
    assert sched.online_fraction() == 1.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"model": "flaky"}, "churn.model 'flaky' is unknown; choose one of none, bernoulli"),
        ({"preset": "tablet"}, "churn.preset 'tablet' is unknown; choose one of smartphone"),
        ({"availability": 1.5}, "churn.availability must be in [0, 1], got 1.5"),
        ({"availability": -0.1}, "churn.availability must be in [0, 1]"),
        ({"availability": math.nan}, "churn.availability must be in [0, 1], got nan"),
        ({"slot": 0.0}, "churn.slot must be > 0 seconds"),
        ({"mean_online": -5.0}, "churn.mean_online must be >= 0 seconds"),
        ({"mean_offline": math.inf}, "churn.mean_offline must be >= 0 seconds"),
        ({"day": 0.0}, "churn.day must be > 0 seconds"),
        ({"amplitude": 1.2}, "churn.amplitude must be in [0, 1]"),
        ({"phase_spread": -0.5}, "churn.phase_spread must be in [0, 1]"),
        ({"crash_fraction": 2.0}, "churn.crash_fraction must be in [0, 1]"),
        ({"late_join_fraction": 0.3}, "needs churn.late_join_window > 0"),
        ({"late_join_window": -1.0}, "churn.late_join_window must be >= 0"),
        (
            {"model": "trace", "trace": "t.csv", "late_join_fraction": 0.1, "late_join_window": 60.0},
            "cannot be used with model 'trace'",
        ),
        ({"model": "trace"}, "churn.model 'trace' needs churn.trace"),
        ({"model": "trace", "trace": "t.csv", "preset": "iot"}, "'iot' does not apply to model 'trace'"),
        ({"model": "markov", "trace": "t.csv", "preset": "smartphone"}, "set model = 'trace' to replay it"),
        ({"always_online": ("seed", "seed")}, "lists these ids more than once: seed"),
        ({"always_online": ("",)}, "non-empty node ids"),
        ({"model": "markov"}, "churn.model 'markov' needs session lengths: set two of availability"),
        ({"model": "diurnal", "availability": 0.3}, "churn.model 'diurnal' needs session lengths"),
        (
            {"model": "markov", "mean_online": 600.0},
            "with only churn.mean_online needs churn.availability strictly between 0 and 1",
        ),
        (
            {"model": "markov", "mean_offline": 600.0, "availability": 0.0},
            "to derive churn.mean_online, got 0",
        ),
        (
            {"model": "markov", "availability": 0.5, "mean_online": 100.0, "mean_offline": 300.0},
            "churn.availability = 0.5 contradicts mean_online / (mean_online + mean_offline)",
        ),
    ],
)
def test_invalid_configs_say_what_is_wrong(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        ChurnConfig(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(e.value)


def test_config_errors_name_the_spec_file_when_built_from_toml() -> None:
    cfg = build(ChurnConfig, {"preset": "smartphone", "always_online": ["seed"]}, source="sim.toml")
    assert cfg.always_online == ("seed",) and cfg.preset == "smartphone"
    with pytest.raises(ConfigError, match=r"^sim\.toml: churn\.model 'markov' needs session lengths"):
        build(ChurnConfig, {"model": "markov"}, source="sim.toml")
    with pytest.raises(ConfigError, match=r"sim\.toml: unknown key\(s\) churn\.availabilty"):
        build(ChurnConfig, {"availabilty": 0.3}, source="sim.toml", path="churn")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # (model, availability, mean_online, mean_offline) after resolve
        ({"preset": "smartphone"}, ("markov", 0.25, 1800.0, 5400.0)),
        ({"preset": "laptop"}, ("markov", 0.4, 7200.0, 10800.0)),
        ({"preset": "iot"}, ("markov", 0.95, 68400.0, 3600.0)),
        # yours first, then the preset's availability, then its mean_online; the third is derived
        ({"preset": "smartphone", "availability": 0.5}, ("markov", 0.5, 1800.0, 1800.0)),
        ({"preset": "smartphone", "mean_online": 600.0}, ("markov", 0.25, 600.0, 1800.0)),
        ({"preset": "smartphone", "mean_offline": 3600.0}, ("markov", 0.25, 1200.0, 3600.0)),
        (
            {"preset": "smartphone", "mean_online": 100.0, "mean_offline": 300.0},
            ("markov", 0.25, 100.0, 300.0),
        ),
        ({"preset": "smartphone", "model": "diurnal"}, ("diurnal", 0.25, 1800.0, 5400.0)),
        ({"preset": "smartphone", "model": "bernoulli"}, ("bernoulli", 0.25, 0.0, 0.0)),
        ({"model": "markov", "mean_online": 100.0, "mean_offline": 300.0}, ("markov", 0.25, 100.0, 300.0)),
        ({"model": "markov", "availability": 0.2, "mean_offline": 400.0}, ("markov", 0.2, 100.0, 400.0)),
        ({"model": "bernoulli", "availability": 0.7}, ("bernoulli", 0.7, 0.0, 0.0)),
    ],
)
def test_resolve_applies_the_preset_rule(kwargs: dict[str, object], expected: tuple[object, ...]) -> None:
    r = resolve(ChurnConfig(**kwargs))  # type: ignore[arg-type]
    got = (r.model, r.availability, r.mean_online, r.mean_offline)
    assert got[0] == expected[0] and r.preset == ""
    assert np.allclose(got[1:], expected[1:], rtol=1e-12)
    assert resolve(r) == r  # idempotent


def test_presets_are_documented_session_models() -> None:
    for name, preset in PRESETS.items():
        r = resolve(ChurnConfig(preset=name))
        assert math.isclose(r.mean_online / (r.mean_online + r.mean_offline), preset.availability)
    phone = resolve(SMARTPHONE)
    assert phone.availability == 0.25 and 10 * 60 <= phone.mean_online <= 59 * 60  # tens of minutes
