"""Tests of the synthetic fitness generator: determinism, independence, skew and knobs."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfed.config import SyntheticConfig
from p2pfed.data import synthetic as S
from p2pfed.data import synthetic_cohort as C
from p2pfed.errors import DataError

CFG = SyntheticConfig()
ONEHOT = [i for i, f in enumerate(S.FEATURES) if f.unit == "0/1"]


def _same(a: S.SyntheticUser, b: S.SyntheticUser) -> bool:
    return a.archetype == b.archetype and np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)


def test_same_seed_gives_identical_arrays() -> None:
    a, b = S.generate_user(CFG, 7, 3), S.generate_user(CFG, 7, 3)
    assert _same(a, b)
    assert a.X.dtype == np.float32 and a.y.dtype == np.int64
    assert a.X.shape == (a.days, S.N_FEATURES)


def test_user_is_the_same_alone_or_among_others() -> None:
    alone = S.generate_user(CFG, 0, 5)
    crowd = S.generate_users(CFG, 0, [9, 2, 5, 0, 1])
    assert _same(alone, crowd[2])


def test_different_users_and_seeds_differ() -> None:
    a = S.generate_user(CFG, 0, 1)
    assert not np.array_equal(a.X[:5], S.generate_user(CFG, 0, 2).X[:5])
    assert not np.array_equal(a.X[:5], S.generate_user(CFG, 1, 1).X[:5])


def test_generating_a_user_draws_only_from_its_own_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int, int, int]] = []
    real = C.rng

    def spy(seed: int, stream: int, index: int, part: int) -> np.random.Generator:
        calls.append((seed, stream, index, part))
        return real(seed, stream, index, part)

    monkeypatch.setattr(C, "rng", spy)
    S.generate_user(CFG, 4, 3)
    # per-user streams are keyed by the user's own index; the only other draw is the
    # population-level archetype deal (part 2), which depends on (seed, stream) alone
    assert calls, "the generator no longer uses synthetic_cohort.rng; update this test"
    for seed, stream, index, part in calls:
        assert seed == 4 and stream == S.NODE_STREAM
        assert index == 3 or (part == 2 and index == 0), (index, part)


def test_heldout_users_come_from_a_disjoint_stream() -> None:
    held = S.heldout_users(CFG, 0, 6)
    nodes = S.generate_users(CFG, 0, range(6))
    assert all(h.stream == S.HELDOUT_STREAM for h in held)
    for h in held:
        assert not any(h.days == u.days and np.array_equal(h.X, u.X) for u in nodes)
    assert _same(held[2], S.generate_user(CFG, 0, 2, S.HELDOUT_STREAM))
    assert S.heldout_users(CFG, 0, 0) == []


def test_any_six_consecutive_users_cover_every_archetype() -> None:
    for seed in range(3):
        names = [S.archetype_of(CFG, seed, i) for i in range(14)]
        for start in range(0, 9):
            assert set(names[start : start + 6]) == set(S.ARCHETYPES)
        assert names == [S.generate_user(CFG, seed, i).archetype for i in range(14)]


def _label_shares(archetype: str, n_users: int = 8) -> np.ndarray:
    cfg = dataclasses.replace(CFG, archetypes=(archetype,), label_noise=0.0)
    y = np.concatenate([u.y for u in S.generate_users(cfg, 0, range(n_users))])
    return np.bincount(y, minlength=S.N_CLASSES) / len(y)


def test_archetypes_skew_the_labels_strongly() -> None:
    sed, run, old = _label_shares("sedentary"), _label_shares("runner"), _label_shares("older_adult")
    assert sed[3] < 0.03 and sed[0] > 0.45
    assert run[0] < 0.10 and run[3] > 0.30
    assert old[3] < 0.05
    # total variation distance between sedentary and runner label mixes
    assert 0.5 * np.abs(sed - run).sum() > 0.6


def test_population_uses_every_class() -> None:
    y = np.concatenate([u.y for u in S.generate_users(CFG, 0, range(24))])
    shares = np.bincount(y, minlength=S.N_CLASSES) / len(y)
    assert shares.min() > 0.1


def test_features_are_on_sane_scales() -> None:
    X = np.concatenate([u.X for u in S.generate_users(CFG, 1, range(60))])
    assert np.isfinite(X).all()
    dense = [i for i in range(S.N_FEATURES) if i not in ONEHOT]
    assert np.all(np.abs(X[:, dense].mean(axis=0)) < 0.5)
    assert np.all((X[:, dense].std(axis=0) > 0.5) & (X[:, dense].std(axis=0) < 2.0))
    assert np.abs(X).max() < 15


def test_scale_and_unscale_are_inverse() -> None:
    u = S.generate_user(CFG, 0, 0)
    raw = S.unscale(u.X)
    steps = raw[:, S.FEATURE_NAMES.index("steps")]
    assert steps.min() > 0 and 500 < np.median(steps) < 40000
    np.testing.assert_allclose(S.scale(raw), u.X, atol=1e-4)


def test_labels_follow_the_latent_load_without_label_noise() -> None:
    cfg = dataclasses.replace(CFG, label_noise=0.0)
    u = S.generate_user(cfg, 0, 1)
    np.testing.assert_array_equal(u.y, np.searchsorted(S.LOAD_THRESHOLDS, u.load, side="right"))


def test_label_noise_moves_labels_to_a_neighbour_and_keeps_features() -> None:
    clean = S.generate_users(dataclasses.replace(CFG, label_noise=0.0), 0, range(6))
    noisy = S.generate_users(dataclasses.replace(CFG, label_noise=0.3), 0, range(6))
    y0 = np.concatenate([u.y for u in clean])
    y1 = np.concatenate([u.y for u in noisy])
    assert all(np.array_equal(a.X, b.X) for a, b in zip(clean, noisy))
    moved = y0 != y1
    assert 0.2 < moved.mean() < 0.4
    assert np.all(np.abs(y0 - y1)[moved] == 1)
    assert y1.min() >= 0 and y1.max() < S.N_CLASSES


def test_feature_noise_changes_features_not_labels() -> None:
    quiet = S.generate_user(dataclasses.replace(CFG, feature_noise=0.0), 0, 2)
    loud = S.generate_user(dataclasses.replace(CFG, feature_noise=3.0), 0, 2)
    base = S.generate_user(CFG, 0, 2)
    assert np.array_equal(quiet.y, loud.y) and np.array_equal(quiet.load, loud.load)
    cal = S.FEATURE_NAMES.index("active_calories")
    err = [np.std(np.log(S.unscale(u.X)[:, cal] / u.load)) for u in (quiet, base, loud)]
    assert err[0] < 1e-3 < err[1] < err[2]  # noiseless calories are exactly load * weight * c


def test_days_and_quantity_skew() -> None:
    flat = S.generate_users(dataclasses.replace(CFG, days=30, quantity_skew=0.0), 0, range(20))
    assert {u.days for u in flat} == {30}
    def days(skew: float) -> list[int]:
        cfg = dataclasses.replace(CFG, days=30, quantity_skew=skew)
        return [u.days for u in S.generate_users(cfg, 0, range(200))]

    skewed, mild = days(1.0), days(0.3)
    assert 22 < np.mean(skewed) < 38 and 27 < np.mean(mild) < 33
    assert np.std(skewed) > 2 * np.std(mild)
    assert min(skewed) >= 1


def test_archetype_restriction() -> None:
    cfg = dataclasses.replace(CFG, archetypes=("cyclist", "runner"))
    assert {u.archetype for u in S.generate_users(cfg, 0, range(10))} == {"cyclist", "runner"}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"days": 0}, "days"),
        ({"quantity_skew": -0.1}, "quantity_skew"),
        ({"quantity_skew": float("nan")}, "quantity_skew"),
        ({"label_noise": 1.5}, "label_noise"),
        ({"feature_noise": -1.0}, "feature_noise"),
        ({"archetypes": ("runner", "pirate")}, "pirate"),
    ],
)
def test_invalid_knobs_raise_data_error(change: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        S.generate_user(dataclasses.replace(CFG, **change), 0, 0)


@pytest.mark.parametrize(("seed", "index"), [(-1, 0), (0, -3), (True, 0)])
def test_invalid_seed_or_index(seed: int, index: int) -> None:
    with pytest.raises(DataError, match="non-negative"):
        S.generate_user(CFG, seed, index)


def test_generating_a_user_takes_milliseconds() -> None:
    S.generate_user(CFG, 0, 0)
    start = time.perf_counter()
    S.generate_users(CFG, 0, range(100))
    assert (time.perf_counter() - start) / 100 < 0.02


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    index=st.integers(0, 10**6),
    days=st.integers(1, 60),
    skew=st.floats(0.0, 2.0),
    noise=st.floats(0.0, 3.0),
)
def test_any_user_is_well_formed(seed: int, index: int, days: int, skew: float, noise: float) -> None:
    cfg = SyntheticConfig(days=days, quantity_skew=skew, feature_noise=noise)
    u = S.generate_user(cfg, seed, index)
    assert u.days >= 1 and u.X.shape == (u.days, S.N_FEATURES)
    assert np.isfinite(u.X).all() and np.all(u.load > 0)
    assert u.y.min() >= 0 and u.y.max() < S.N_CLASSES
    assert u.archetype in S.ARCHETYPES


# ---- the health-risk task ------------------------------------------------------------------------

RISK = dataclasses.replace(CFG, task="risk")


def test_risk_task_changes_only_the_labels() -> None:
    act, risk = S.generate_user(CFG, 0, 4), S.generate_user(RISK, 0, 4)
    np.testing.assert_array_equal(act.X, risk.X)
    np.testing.assert_array_equal(act.y, act.activity)
    np.testing.assert_array_equal(risk.y, risk.risk)
    np.testing.assert_array_equal(act.risk, risk.risk)  # both labels are always computed
    assert risk.y.min() >= 0 and risk.y.max() < S.N_RISK_CLASSES
    assert S.n_classes(RISK) == 3 and S.label_names(RISK) == ("low", "elevated", "high")
    assert S.n_classes(CFG) == 4 and S.label_names(CFG) == S.LABEL_NAMES


def test_risk_follows_its_score_without_label_noise() -> None:
    u = S.generate_user(dataclasses.replace(RISK, label_noise=0.0), 0, 5)
    np.testing.assert_array_equal(u.y, np.searchsorted(S.RISK.thresholds, u.risk_score, side="right"))


def _risk_shares(archetype: str) -> np.ndarray:
    cfg = dataclasses.replace(RISK, archetypes=(archetype,), label_noise=0.0)
    y = np.concatenate([u.y for u in S.generate_users(cfg, 0, range(30))])
    return np.bincount(y, minlength=3) / len(y)


def test_risk_is_skewed_by_archetype_and_varies_from_day_to_day() -> None:
    run, old, sed = _risk_shares("runner"), _risk_shares("older_adult"), _risk_shares("sedentary")
    assert run[0] > 0.8 and run[2] < 0.02
    assert old[2] > 0.5 and old[0] < 0.05
    assert sed[0] < 0.1 and sed[1] > 0.4
    users = S.generate_users(RISK, 0, range(60))
    y = np.concatenate([u.y for u in users])
    assert (np.bincount(y, minlength=3) / len(y)).min() > 0.15  # every class is common
    # a person's risk moves with their nights, strain and recent activity: many users span two classes
    spans = [np.sort(np.bincount(u.y, minlength=3))[-2] / u.days > 0.1 for u in users]
    assert np.mean(spans) > 0.4


def test_risk_rises_with_strain() -> None:
    """Night shifts (higher resting HR, lower HRV, short sleep) raise the shift worker's daily risk."""
    cfg = dataclasses.replace(RISK, archetypes=("shift_worker",), label_noise=0.0, feature_noise=0.0)
    rhr = S.FEATURE_NAMES.index("resting_hr")
    for u in S.generate_users(cfg, 0, range(5)):
        raw = S.unscale(u.X)
        high = raw[:, rhr] > np.median(raw[:, rhr])
        assert u.risk_score[high].mean() > u.risk_score[~high].mean() + 0.3


# ---- population mix --------------------------------------------------------------------------------

MIX = dataclasses.replace(CFG, archetype_mix=(0.8, 0.04, 0.04, 0.04, 0.04, 0.04))


def test_archetype_mix_is_deterministic_and_close_in_every_window() -> None:
    names = [S.archetype_of(MIX, 0, i) for i in range(300)]
    assert names == [S.archetype_of(MIX, 0, i) for i in range(300)]
    assert names != [S.archetype_of(MIX, 1, i) for i in range(300)]
    for n in (10, 50):
        for start in range(0, 250, 7):
            runners = names[start : start + n].count("runner")
            assert abs(runners - 0.8 * n) <= 2
    assert set(names) == set(S.ARCHETYPES)
    assert [S.generate_user(MIX, 0, i).archetype for i in range(10)] == names[:10]


def test_archetype_mix_with_a_restricted_population() -> None:
    three = ("sedentary", "cyclist", "older_adult")
    cfg = dataclasses.replace(CFG, archetypes=three, archetype_mix=(1, 3, 0))
    names = [S.archetype_of(cfg, 2, i) for i in range(200)]
    assert set(names) == {"sedentary", "cyclist"} and abs(names.count("cyclist") - 150) <= 2
    assert S.mix_weights(cfg) == {"sedentary": 0.25, "cyclist": 0.75, "older_adult": 0.0}


def test_equal_or_no_mix_is_the_round_robin_default() -> None:
    equal = dataclasses.replace(CFG, archetype_mix=(2.0,) * 6)
    assert S.mix_weights(equal) is None and S.mix_weights(CFG) is None
    assert [S.archetype_of(equal, 3, i) for i in range(12)] == [S.archetype_of(CFG, 3, i) for i in range(12)]


def test_heldout_users_stay_equally_mixed() -> None:
    held = [S.archetype_of(MIX, 0, i, S.HELDOUT_STREAM) for i in range(12)]
    assert sorted(held) == sorted(list(S.ARCHETYPES) * 2)
    only = dataclasses.replace(CFG, archetype_mix=(0.9, 0.1, 0, 0, 0, 0))
    assert {S.archetype_of(only, 0, i, S.HELDOUT_STREAM) for i in range(6)} == {"runner", "cyclist"}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"task": "sleep"}, "data.synthetic.task must be one of 'activity', 'risk'"),
        ({"archetype_mix": (1.0, 2.0)}, r"has 2 weight\(s\) but there are 6 archetypes"),
        ({"archetype_mix": (1.0, -1.0, 1, 1, 1, 1)}, "finite and >= 0"),
        ({"archetype_mix": (1.0, float("nan"), 1, 1, 1, 1)}, "finite and >= 0"),
        ({"archetype_mix": (0,) * 6}, "at least one weight must be > 0"),
        ({"archetypes": ("runner", "runner"), "archetype_mix": (1, 1)}, "lists an archetype twice"),
    ],
)
def test_invalid_task_and_mix(change: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        S.generate_user(dataclasses.replace(CFG, **change), 0, 0)
