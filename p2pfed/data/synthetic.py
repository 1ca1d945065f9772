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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from p2pfed.config import SyntheticConfig
from p2pfed.data.population import (
    ARCHETYPES,
    AWAKE_MINUTES,
    CHORES_METMIN,
    CHORES_SD,
    FEATURE_NAMES,
    FEATURES,
    KCAL_PER_METMIN_KG,
    LABEL_NAMES,
    LEVEL_LOAD,
    LEVEL_SD,
    LIGHT_TYPES,
    LOAD_THRESHOLDS,
    METMIN_PER_KSTEPS,
    N_CLASSES,
    N_FEATURES,
    N_RISK_CLASSES,
    NOISE,
    RISK,
    RISK_LABEL_NAMES,
    SHIFT_ODDS,
    SHIFT_ROSTER,
    SPREAD,
    TASKS,
    WORKOUT_TYPES,
    WT_HRR,
    WT_SPM,
    Archetype,
    scale,
    unscale,
)
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

#: Version tag mixed into every seed, so other users of `data.seed` never share these streams.
_TAG = 0x5F17_0001
#: Stream of the users that nodes hold, and the disjoint stream of held-out evaluation users.
NODE_STREAM = 0
HELDOUT_STREAM = 1

_MIN_DAYS = 1


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


def validate(cfg: SyntheticConfig) -> None:
    """Raise DataError for any knob of `cfg` out of its range."""
    if cfg.task not in TASKS:
        raise DataError(
            f"data.synthetic.task must be one of {', '.join(map(repr, TASKS))}, got {cfg.task!r}"
        )
    if not isinstance(cfg.days, int) or isinstance(cfg.days, bool) or cfg.days < _MIN_DAYS:
        raise DataError(f"data.synthetic.days must be an integer >= {_MIN_DAYS}, got {cfg.days!r}")
    if not 0.0 <= cfg.quantity_skew <= 3.0:
        raise DataError(f"data.synthetic.quantity_skew must be in [0, 3], got {cfg.quantity_skew!r}")
    if not 0.0 <= cfg.label_noise <= 1.0:
        raise DataError(f"data.synthetic.label_noise must be in [0, 1], got {cfg.label_noise!r}")
    if not 0.0 <= cfg.feature_noise <= 10.0:
        raise DataError(f"data.synthetic.feature_noise must be in [0, 10], got {cfg.feature_noise!r}")
    unknown = [a for a in cfg.archetypes if a not in ARCHETYPES]
    if unknown:
        raise DataError(
            f"data.synthetic.archetypes: unknown archetype(s) {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(ARCHETYPES)})"
        )
    mix_weights(cfg)


def label_names(cfg: SyntheticConfig) -> tuple[str, ...]:
    """Class names of the labels `cfg.task` asks for."""
    return RISK_LABEL_NAMES if cfg.task == "risk" else LABEL_NAMES


def n_classes(cfg: SyntheticConfig) -> int:
    """Number of classes of the labels `cfg.task` asks for."""
    return len(label_names(cfg))


def _allowed(cfg: SyntheticConfig) -> tuple[str, ...]:
    return tuple(dict.fromkeys(cfg.archetypes)) or tuple(ARCHETYPES)


def mix_weights(cfg: SyntheticConfig) -> dict[str, float] | None:
    """The population mix as {archetype: share} (shares sum to 1), or None for equal shares.

    `cfg.archetype_mix` has one weight per archetype of `cfg.archetypes` (all six, in ARCHETYPES
    order, when that is empty); weights need not sum to 1, and 0 leaves an archetype out. Equal
    weights are the same as no mix (round robin).
    """
    mix = tuple(cfg.archetype_mix)
    if not mix:
        return None
    allowed = _allowed(cfg)
    if cfg.archetypes and len(cfg.archetypes) != len(allowed):
        raise DataError(
            "data.synthetic.archetypes lists an archetype twice; with archetype_mix, list each once"
        )
    if len(mix) != len(allowed):
        raise DataError(
            f"data.synthetic.archetype_mix has {len(mix)} weight(s) but there are {len(allowed)} "
            f"archetypes ({', '.join(allowed)}): give one weight per archetype, in that order"
        )
    bad = [
        w for w in mix if isinstance(w, bool) or not isinstance(w, int | float) or not np.isfinite(w) or w < 0
    ]
    if bad:
        raise DataError(f"data.synthetic.archetype_mix weights must be finite and >= 0, got {bad[0]!r}")
    total = float(sum(mix))
    if total <= 0:
        raise DataError("data.synthetic.archetype_mix: at least one weight must be > 0")
    if max(mix) - min(mix) <= 1e-12 * max(mix):
        return None
    return {a: float(w) / total for a, w in zip(allowed, mix)}


def _check_index(seed: int, index: int) -> None:
    for what, v in (("data.seed", seed), ("user index", index)):
        if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 0:
            raise DataError(f"{what} must be a non-negative integer, got {v!r}")


def _rng(seed: int, stream: int, index: int, part: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([_TAG, seed, stream, index, part]))


@dataclass(frozen=True, eq=False)
class _Person:
    """Personal traits of one user, drawn around their archetype's prior."""

    arch: Archetype
    days: int
    age: float
    weight: float  # kg
    hr_max: float  # bpm
    rhr: float  # bpm, baseline resting heart rate
    hrv: float  # ms, baseline RMSSD
    vo2: float  # METs
    steps: float  # everyday steps on a workout day
    sleep: float  # h
    sleep_eff: float
    levels: np.ndarray  # (4,) share of days per level
    mix: np.ndarray  # (len(WORKOUT_TYPES),) workout-type mix
    effort: float  # offset of the fraction of heart-rate reserve in workouts
    log_p: float  # chance that a workout gets logged in the app
    weekday0: int  # weekday of the first day
    roster0: int  # shift-roster slot of the first day
    step_bias: float  # device calibration (measurement error)
    cal_bias: float
    vo2_bias: float


#: Step of the low-discrepancy (Weyl) sequence that deals a weighted mix: the golden ratio.
_WEYL = (np.sqrt(5.0) - 1.0) / 2.0


def archetype_of(cfg: SyntheticConfig, seed: int, index: int, stream: int = NODE_STREAM) -> str:
    """The archetype of user `index`, from (cfg, seed, stream, index) alone.

    Equal shares (no `archetype_mix`, and always for the held-out stream): round robin over a
    permutation drawn from (seed, stream), so any len(allowed) consecutive users cover every
    allowed archetype and small federations see the whole population. With a mix, user i gets
    the archetype whose slice of [0, 1) (slices sized by the shares, in the same permuted order)
    holds frac(offset + i * 0.618...), a low-discrepancy (Weyl) sequence: any n consecutive
    users hold each archetype n * share times, give or take about two users (80 % runners: 8 of
    any 10 users +- 1, 40 of any 50 +- 2). The held-out stream deals every archetype with a
    non-zero weight equally, so every archetype is evaluated on the same footing.
    """
    validate(cfg)
    _check_index(seed, index)
    allowed = _allowed(cfg)
    mix = mix_weights(cfg)
    if mix is not None and stream == HELDOUT_STREAM:
        allowed, mix = tuple(a for a in allowed if mix[a] > 0), None
    rng = _rng(int(seed), stream, 0, 2)
    order = rng.permutation(len(allowed))
    if mix is None:
        return allowed[int(order[index % len(allowed)])]
    names = [allowed[int(k)] for k in order if mix[allowed[int(k)]] > 0]
    edges = np.cumsum([mix[a] for a in names])
    u = (rng.random() + int(index) * _WEYL) % 1.0
    return names[min(int(np.searchsorted(edges, u, side="right")), len(names) - 1)]


def _person(cfg: SyntheticConfig, t: np.random.Generator, archetype: str) -> _Person:
    fn = float(cfg.feature_noise)
    arch = ARCHETYPES[archetype]
    age = t.uniform(*arch.age)
    days_z = t.normal()
    days = int(round(cfg.days * np.exp(cfg.quantity_skew * days_z - cfg.quantity_skew**2 / 2)))
    return _Person(
        arch=arch,
        days=max(_MIN_DAYS, days),
        age=age,
        weight=75.0 * np.exp(t.normal(0.0, SPREAD["weight"])),
        hr_max=208.0 - 0.7 * age + t.normal(0.0, SPREAD["hr_max"]),
        rhr=arch.rhr + 0.08 * (age - 40.0) + t.normal(0.0, SPREAD["rhr"]),
        hrv=arch.hrv * np.exp(t.normal(0.0, SPREAD["hrv"])),
        vo2=max(arch.vo2max * np.exp(t.normal(0.0, SPREAD["vo2max"])), 4.0),
        steps=arch.steps * np.exp(t.normal(0.0, SPREAD["steps"])),
        sleep=arch.sleep_h + t.normal(0.0, 0.4),
        sleep_eff=arch.sleep_eff + t.normal(0.0, 0.025),
        levels=t.dirichlet(SPREAD["levels"] * np.asarray(arch.levels) + 0.02),
        mix=t.dirichlet(SPREAD["mix"] * np.asarray(arch.mix) + 0.05),
        effort=t.normal(0.0, SPREAD["effort"]),
        log_p=t.uniform(0.85, 0.98),
        weekday0=int(t.integers(7)),
        roster0=int(t.integers(len(SHIFT_ROSTER))),
        step_bias=np.exp(fn * NOISE["step_bias"] * t.normal()),
        cal_bias=np.exp(fn * NOISE["cal_bias"] * t.normal()),
        vo2_bias=np.exp(fn * NOISE["vo2_bias"] * t.normal()),
    )


def _day_levels(p: _Person, r: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each day's intended level (0..3), plus the shift-worker masks (working, night shift)."""
    n, a = p.days, p.arch
    weekday = (p.weekday0 + np.arange(n)) % 7
    odds = np.tile(p.levels, (n, 1))
    odds[:, 2:] *= np.asarray(a.week)[weekday][:, None]
    odds[:, 3] *= np.where(weekday >= 5, a.weekend_hard, 1.0)
    if a.shift:
        kind = SHIFT_ROSTER[(p.roster0 + np.arange(n)) % len(SHIFT_ROSTER)]
        odds *= SHIFT_ODDS[kind]
        work, night = kind < 2, kind == 1
    else:
        work, night = np.zeros(n, bool), np.zeros(n, bool)
    cum = np.cumsum(odds / odds.sum(axis=1, keepdims=True), axis=1)
    level = (r.random(n)[:, None] > cum[:, :-1]).sum(axis=1)
    return level, work, night


@dataclass(frozen=True, eq=False)
class _Days:
    """What the user did each day (before any measurement)."""

    level: np.ndarray  # intended level 0..3
    work: np.ndarray  # shift worker on shift
    night: np.ndarray  # shift worker on a night shift
    has_w: np.ndarray  # a workout happened
    wtype: np.ndarray  # index into WORKOUT_TYPES (meaningful where has_w)
    hrr: np.ndarray  # workout effort, fraction of heart-rate reserve
    per_min: np.ndarray  # workout MET-minutes above rest per minute
    dur: np.ndarray  # workout minutes (0 without a workout)
    everyday: np.ndarray  # steps outside the workout
    w_steps: np.ndarray  # steps during the workout
    load: np.ndarray  # MET-minutes above rest: what decides the label


def _behaviour(p: _Person, r: np.random.Generator) -> _Days:
    """Each day's level, then the steps, chores and workout that produce the day's load."""
    n = p.days
    level, work, night = _day_levels(p, r)
    target = np.exp(np.log(np.asarray(LEVEL_LOAD))[level] + LEVEL_SD * r.normal(size=n))
    chores = CHORES_METMIN * np.exp(r.normal(0.0, CHORES_SD, n))
    light = (level == 1) & (r.random(n) < p.arch.light_workout)
    has_w = (level >= 2) | light
    light_mix = p.mix * LIGHT_TYPES if (p.mix * LIGHT_TYPES).sum() > 0 else LIGHT_TYPES
    light_mix = light_mix / light_mix.sum()
    k = len(WORKOUT_TYPES)
    wtype = np.where(light, r.choice(k, n, p=light_mix), r.choice(k, n, p=p.mix))
    hrr = WT_HRR[wtype] + p.effort + 0.05 * (level == 3) + r.normal(0.0, 0.07, n)
    hrr = np.clip(hrr, 0.15, 0.95)
    left = np.maximum(target - chores, 10.0)  # load left for steps and the workout
    habit = p.steps * np.exp(r.normal(0.0, 0.25, n)) * np.where(work, 1.7, 1.0)
    cap = 0.6 * left * 1000.0 / METMIN_PER_KSTEPS  # a workout day's steps carry <= 60 %
    everyday = np.where(has_w, np.minimum(habit, cap), left * 1000.0 / METMIN_PER_KSTEPS)
    per_min = hrr * (p.vo2 - 1.0)
    want = np.maximum(left - METMIN_PER_KSTEPS * everyday / 1000.0, 0.0)
    dur = np.where(has_w, np.clip(want / per_min, 10.0, 240.0), 0.0)
    w_steps = dur * WT_SPM[wtype] * np.exp(r.normal(0.0, 0.1, n))
    load = METMIN_PER_KSTEPS * everyday / 1000.0 + chores + dur * per_min
    return _Days(level, work, night, has_w, wtype, hrr, per_min, dur, everyday, w_steps, load)


@dataclass(frozen=True, eq=False)
class _Physiology:
    """The user's true overnight state each day, before the wearable's measurement noise."""

    rhr: np.ndarray  # bpm
    hrv: np.ndarray  # ms
    sleep: np.ndarray  # h
    eff: np.ndarray  # sleep efficiency


def _measure(p: _Person, d: _Days, r: np.random.Generator, fn: float) -> tuple[np.ndarray, _Physiology]:
    """The wearable's raw daily measurements (days, N_FEATURES) of what the user did, and the
    true physiology behind them."""
    n = p.days
    e = r.normal(0.0, 1.0, (n, 12)) * fn  # measurement noise, one column per measurement
    mean_load = float(d.load.mean())
    fatigue = (_ewma_before(d.load, mean_load) - mean_load) / max(mean_load, 1.0)
    sleep_true = p.sleep + 0.5 * r.normal(0.0, 1.0, n) - 1.8 * d.night
    sleep = np.clip(sleep_true + NOISE["sleep"] * e[:, 0], 3.0, 11.0)
    eff_true = p.sleep_eff + 0.025 * r.normal(0.0, 1.0, n) - 0.07 * d.night
    eff = np.clip(eff_true + NOISE["sleep_eff"] * e[:, 1], 0.5, 0.99)
    sleep_true, eff_true = np.clip(sleep_true, 3.0, 11.0), np.clip(eff_true, 0.5, 0.99)
    rhr = p.rhr + 3.5 * d.night + 1.2 * (7.0 - sleep) + 3.0 * fatigue + NOISE["rhr"] * e[:, 2]
    hrv = p.hrv * np.exp(-0.25 * fatigue - 0.12 * d.night + NOISE["hrv"] * e[:, 3])
    physiology = _Physiology(
        rhr=p.rhr + 3.5 * d.night + 1.2 * (7.0 - sleep_true) + 3.0 * fatigue,
        hrv=p.hrv * np.exp(-0.25 * fatigue - 0.12 * d.night),
        sleep=sleep_true,
        eff=eff_true,
    )
    steps = (d.everyday + d.w_steps) * p.step_bias * np.exp(NOISE["steps"] * e[:, 4])
    intense = d.has_w & (1.0 + d.per_min >= 3.0)
    brisk = 3.0 * d.everyday / 1000.0 * np.exp(NOISE["active_frac"] * e[:, 5])
    active = np.maximum(np.where(intense, d.dur, 0.0) + brisk + NOISE["active"] * e[:, 6], 0.0)
    logged = d.has_w & (r.random(n) < p.log_p)
    w_min = np.where(logged, d.dur * np.exp(NOISE["workout_min"] * e[:, 7]), 0.0)
    lift = (p.hr_max - rhr) * d.load / ((p.vo2 - 1.0) * AWAKE_MINUTES)
    mean_hr = rhr + 10.0 + lift + NOISE["mean_hr"] * e[:, 8]
    peak = np.where(d.has_w, d.hrr + 0.12, 0.35 + 0.1 * r.random(n))
    max_hr = rhr + (p.hr_max - rhr) * np.clip(peak + NOISE["max_hr"] * e[:, 9], 0.05, 1.05)
    kcal = d.load * p.weight * KCAL_PER_METMIN_KG * p.cal_bias
    cal = kcal * np.exp(NOISE["calories"] * e[:, 10])
    vo2_est = p.vo2 * 3.5 * p.vo2_bias * np.exp(NOISE["vo2"] * e[:, 11])
    onehot = np.zeros((n, len(WORKOUT_TYPES)))
    onehot[np.arange(n)[logged], d.wtype[logged]] = 1.0
    profile = np.tile([p.age, p.weight], (n, 1))
    cols = [vo2_est, rhr, hrv, sleep, eff, steps, active, w_min, mean_hr, max_hr, cal]
    return np.column_stack([profile, *cols, onehot]), physiology


def _risk_score(p: _Person, d: _Days, b: _Physiology) -> np.ndarray:
    """Each day's health-risk score (see RiskModel): chronic + habitual + acute parts."""
    m = RISK
    chronic = (
        m.age * (p.age - m.age_ref)
        + m.weight * np.log(p.weight / 75.0)
        + m.fitness * (m.vo2_ref - p.vo2)
        + m.rhr * (p.rhr - m.rhr_ref)
    )
    mean_load = float(d.load.mean())
    past = _ewma_before(d.load, mean_load, m.habit_memory)  # the past weeks, not today
    habit = m.habit * np.log(m.load_ref / np.maximum(past, 1.0))
    acute = (
        m.rhr_up * (b.rhr - p.rhr)
        + m.hrv_down * np.log(p.hrv / b.hrv)
        + m.short_sleep * np.maximum(m.sleep_ref - b.sleep, 0.0)
        + m.poor_sleep * np.maximum(m.eff_ref - b.eff, 0.0)
    )
    return chronic + habit + acute


def generate_user(
    cfg: SyntheticConfig, seed: int, index: int, stream: int = NODE_STREAM
) -> SyntheticUser:
    """Generate user `index` of `stream` from (seed, stream, index) only - no other user's data."""
    validate(cfg)
    _check_index(seed, index)
    if stream not in (NODE_STREAM, HELDOUT_STREAM):
        raise DataError(f"unknown synthetic user stream {stream!r}")
    seed, index = int(seed), int(index)
    p = _person(cfg, _rng(seed, stream, index, 0), archetype_of(cfg, seed, index, stream))
    r = _rng(seed, stream, index, 1)
    days = _behaviour(p, r)
    raw, physiology = _measure(p, days, r, float(cfg.feature_noise))
    X = scale(raw)
    y_true = np.searchsorted(np.asarray(LOAD_THRESHOLDS), days.load, side="right")
    activity = _flip_labels(y_true, cfg.label_noise, r, N_CLASSES)
    score = _risk_score(p, days, physiology)
    risk_true = np.searchsorted(np.asarray(RISK.thresholds), score, side="right")
    # the risk labels' noise has its own stream, so the activity task's data never moves
    risk = _flip_labels(risk_true, cfg.label_noise, _rng(seed, stream, index, 3), N_RISK_CLASSES)
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


def _ewma_before(load: np.ndarray, start: float, alpha: float = 0.5) -> np.ndarray:
    """Exponentially weighted mean of the previous days' load (`start` stands for the past)."""
    n = load.shape[0]
    k = np.arange(1, min(n, 40) + 1)
    w = (1.0 - alpha) * alpha ** (k - 1)  # weight of the day k days back (40 days is plenty)
    out = np.full(n, start * alpha ** min(n, 40))
    out[: min(n, 40)] = start * alpha ** np.arange(min(n, 40))
    out[1:] += np.convolve(load, w)[: n - 1]
    return out


def _flip_labels(y: np.ndarray, rate: float, r: np.random.Generator, n_classes: int) -> np.ndarray:
    """Move a `rate` fraction of labels one class up or down (reflected at the ends)."""
    n = y.shape[0]
    flip = r.random(n) < rate
    step = np.where(r.random(n) < 0.5, -1, 1)
    out = y + np.where(flip, step, 0)
    out = np.where(out < 0, 1, out)
    out = np.where(out >= n_classes, n_classes - 2, out)
    return out.astype(np.int64)


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
