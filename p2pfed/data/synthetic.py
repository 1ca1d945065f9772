"""Seeded synthetic fitness data: daily wearable measurements of heterogeneous, non-IID users.

Each user is generated from ``(seed, stream, index)`` alone: a node that holds user 3 never
computes anything about user 4, and held-out evaluation users (stream 1) are never a node's user
(stream 0). By default archetypes are dealt round robin over a permutation drawn from
``(seed, stream)``, so any six consecutive users cover all six archetypes.

How a user is made:

1. An *archetype* (``ARCHETYPES``: runner, cyclist, gym-goer, sedentary, shift worker, older
   adult) is the population prior of the user's traits: age, weight, resting HR, HRV, fitness
   (VO2max), everyday steps, sleep, workout-type mix and the share of sedentary / light /
   moderate / vigorous days. Each trait is drawn per user around that prior (``SPREAD``), so
   personal baselines differ, and the wearable itself has per-user calibration errors.
2. Per day the user aims at an activity level (by their level shares, their weekly routine and,
   for shift workers, their roster), i.e. a target *activity load* in MET-minutes above rest
   around ``LEVEL_LOAD``. They reach it with everyday steps and chores and, on active days, a
   workout of their own kind, effort and fitness. Recent load (fatigue), short sleep and night
   shifts raise the next resting HR and lower HRV.
3. The wearable observes the day only through noisy, person-biased measurements (``FEATURES``:
   steps, heart rates, HRV, sleep, active minutes, calories, the logged workout, ...).
4. Each day gets two labels; ``SyntheticConfig.task`` picks the one in ``y``:

   - ``"activity"`` (default): the load the day actually produced: 0 sedentary below
     ``LOAD_THRESHOLDS[0]``, 1 light, 2 moderate, 3 vigorous above ``LOAD_THRESHOLDS[2]``;
   - ``"risk"``: the day's health-risk class 0 low / 1 elevated / 2 high, from a score
     (``RISK``, see ``population.RiskModel``) that adds the person's chronic risk (age, weight,
     low fitness, high baseline resting HR), their activity over the past weeks, and today's
     strain (resting HR above and HRV below their own baseline, short or poor sleep).

   A ``label_noise`` share of the labels is moved to a neighbouring class (each task from its
   own random stream, so the features and activity labels do not depend on the task).

Archetypes skew the labels strongly (a sedentary user almost never has a vigorous day, a runner
rarely a sedentary one; runners' days are ~93 % low-risk, older adults' ~69 % high-risk) and
show the load through different features (cycling and swimming burn energy without steps; an
older adult's long walk has a runner's steps but half the load), so a model trained on one user
generalises badly to other people while everyone's data together generalises well.

Knobs (``SyntheticConfig``, all validated by ``validate``): ``task``; ``days`` (mean days per
user); ``quantity_skew`` (lognormal sigma of days per user); ``label_noise``;
``feature_noise`` (multiplier of every measurement-noise scale in ``NOISE``); ``archetypes``
(restrict the population); ``archetype_mix`` (weights per archetype: e.g. 80 % runners, dealt
deterministically by ``archetype_of``). The number of users is the number of nodes (or
``DataConfig.users``), and ``DataConfig.seed`` seeds everything.

Features are float32 on sane scales: each raw measurement ``x`` (or ``ln(1 + x)`` for the
heavy-tailed ones) becomes ``(x - prior_mean) / prior_std`` with fixed constants that are part of
the generator (population priors), never statistics of anybody's data.

This module is the per-user API (``generate_user``, ``generate_users``, ``heldout_users``) and
re-exports what callers need. The parts: ``population`` (the fixed definition), ``synthetic_cohort``
(knobs, population mix, each user's archetype, random streams), ``synthetic_days`` (traits,
behaviour, physiology, measurements) and ``synthetic_labels`` (the labels of each task).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from p2pfed.config import SyntheticConfig
from p2pfed.data import synthetic_cohort as cohort
from p2pfed.data.population import (
    ARCHETYPES,
    FEATURE_NAMES,
    FEATURES,
    LABEL_NAMES,
    LOAD_THRESHOLDS,
    N_CLASSES,
    N_FEATURES,
    N_RISK_CLASSES,
    RISK,
    RISK_LABEL_NAMES,
    TASKS,
    scale,
    unscale,
)
from p2pfed.data.synthetic_cohort import (
    HELDOUT_STREAM,
    NODE_STREAM,
    archetype_of,
    check_index,
    mix_weights,
    validate,
)
from p2pfed.data.synthetic_days import behaviour, draw_person, measure
from p2pfed.data.synthetic_labels import activity_labels, label_names, n_classes, risk_labels, risk_score
from p2pfed.errors import DataError

__all__ = [  # the population definition is re-exported: callers need only this module
    "ARCHETYPES",
    "FEATURES",
    "FEATURE_NAMES",
    "HELDOUT_STREAM",
    "LABEL_NAMES",
    "LOAD_THRESHOLDS",
    "N_CLASSES",
    "N_FEATURES",
    "N_RISK_CLASSES",
    "NODE_STREAM",
    "RISK",
    "RISK_LABEL_NAMES",
    "TASKS",
    "SyntheticUser",
    "archetype_of",
    "generate_user",
    "generate_users",
    "heldout_users",
    "label_names",
    "mix_weights",
    "n_classes",
    "scale",
    "unscale",
    "validate",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SyntheticUser:
    """One generated user: scaled daily features, labels, archetype and latent loads."""

    index: int
    stream: int
    archetype: str
    X: np.ndarray  # float32 (days, N_FEATURES), scaled by the FEATURES priors
    y: np.ndarray  # int64 (days,), the label of cfg.task: `activity` or `risk`
    load: np.ndarray  # float64 (days,), true activity load (MET-minutes above rest)
    activity: np.ndarray  # int64 (days,), activity level 0..N_CLASSES-1 (after label noise)
    risk: np.ndarray  # int64 (days,), health-risk class 0..N_RISK_CLASSES-1 (after label noise)
    risk_score: np.ndarray  # float64 (days,), the health-risk score behind `risk` (see RISK)

    @property
    def days(self) -> int:
        return int(self.y.shape[0])


def generate_user(
    cfg: SyntheticConfig, seed: int, index: int, stream: int = NODE_STREAM
) -> SyntheticUser:
    """Generate user `index` of `stream` from (seed, stream, index) only - no other user's data."""
    validate(cfg)
    check_index(seed, index)
    if stream not in (NODE_STREAM, HELDOUT_STREAM):
        raise DataError(f"unknown synthetic user stream {stream!r}")
    seed, index = int(seed), int(index)
    p = draw_person(cfg, cohort.rng(seed, stream, index, 0), archetype_of(cfg, seed, index, stream))
    r = cohort.rng(seed, stream, index, 1)
    days = behaviour(p, r)
    raw, physiology = measure(p, days, r, float(cfg.feature_noise))
    X = scale(raw)
    activity = activity_labels(days.load, cfg.label_noise, r)
    score = risk_score(p, days, physiology)
    # the risk labels' noise has its own stream, so the activity task's data never moves
    risk = risk_labels(score, cfg.label_noise, cohort.rng(seed, stream, index, 3))
    return SyntheticUser(
        index=index,
        stream=stream,
        archetype=p.arch.name,
        X=X,
        y=risk if cfg.task == "risk" else activity,
        load=days.load,
        activity=activity,
        risk=risk,
        risk_score=score,
    )


def generate_users(
    cfg: SyntheticConfig, seed: int, indices: tuple[int, ...] | list[int], stream: int = NODE_STREAM
) -> list[SyntheticUser]:
    """Generate each of `indices` independently (same result as one `generate_user` call each)."""
    return [generate_user(cfg, seed, i, stream) for i in indices]


def heldout_users(cfg: SyntheticConfig, seed: int, count: int) -> list[SyntheticUser]:
    """The `count` evaluation users of the held-out stream, which no node ever holds."""
    if count < 0:
        raise DataError(f"data.eval_users must be >= 0, got {count}")
    return generate_users(cfg, seed, list(range(count)), HELDOUT_STREAM)
