"""One synthetic user's days: traits around their archetype, what they do, what the wearable measures.

``draw_person`` draws the personal traits, ``behaviour`` each day's level, steps, chores and
workout (the day's true activity load), and ``measure`` the wearable's raw, noisy and
person-biased daily measurements plus the true overnight physiology behind them. Everything
comes from the generators it is handed, in a fixed order (see ``synthetic_cohort.rng``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from p2pfed.config import SyntheticConfig
from p2pfed.data.population import (
    ARCHETYPES,
    AWAKE_MINUTES,
    CHORES_METMIN,
    CHORES_SD,
    KCAL_PER_METMIN_KG,
    LEVEL_LOAD,
    LEVEL_SD,
    LIGHT_TYPES,
    METMIN_PER_KSTEPS,
    NOISE,
    SHIFT_ODDS,
    SHIFT_ROSTER,
    SPREAD,
    WORKOUT_TYPES,
    WT_HRR,
    WT_SPM,
    Archetype,
)
from p2pfed.data.synthetic_cohort import MIN_DAYS


@dataclass(frozen=True, eq=False)
class Person:
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


def draw_person(cfg: SyntheticConfig, t: np.random.Generator, archetype: str) -> Person:
    """The traits of a user of `archetype`, and how many days they have, drawn from `t`."""
    fn = float(cfg.feature_noise)
    arch = ARCHETYPES[archetype]
    age = t.uniform(*arch.age)
    days_z = t.normal()
    days = int(round(cfg.days * np.exp(cfg.quantity_skew * days_z - cfg.quantity_skew**2 / 2)))
    return Person(
        arch=arch,
        days=max(MIN_DAYS, days),
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


def _day_levels(p: Person, r: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
class Days:
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


def behaviour(p: Person, r: np.random.Generator) -> Days:
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
    return Days(level, work, night, has_w, wtype, hrr, per_min, dur, everyday, w_steps, load)


@dataclass(frozen=True, eq=False)
class Physiology:
    """The user's true overnight state each day, before the wearable's measurement noise."""

    rhr: np.ndarray  # bpm
    hrv: np.ndarray  # ms
    sleep: np.ndarray  # h
    eff: np.ndarray  # sleep efficiency


def measure(p: Person, d: Days, r: np.random.Generator, fn: float) -> tuple[np.ndarray, Physiology]:
    """The wearable's raw daily measurements (days, N_FEATURES) of what the user did, and the
    true physiology behind them."""
    n = p.days
    e = r.normal(0.0, 1.0, (n, 12)) * fn  # measurement noise, one column per measurement
    mean_load = float(d.load.mean())
    fatigue = (ewma_before(d.load, mean_load) - mean_load) / max(mean_load, 1.0)
    sleep_true = p.sleep + 0.5 * r.normal(0.0, 1.0, n) - 1.8 * d.night
    sleep = np.clip(sleep_true + NOISE["sleep"] * e[:, 0], 3.0, 11.0)
    eff_true = p.sleep_eff + 0.025 * r.normal(0.0, 1.0, n) - 0.07 * d.night
    eff = np.clip(eff_true + NOISE["sleep_eff"] * e[:, 1], 0.5, 0.99)
    sleep_true, eff_true = np.clip(sleep_true, 3.0, 11.0), np.clip(eff_true, 0.5, 0.99)
    rhr = p.rhr + 3.5 * d.night + 1.2 * (7.0 - sleep) + 3.0 * fatigue + NOISE["rhr"] * e[:, 2]
    hrv = p.hrv * np.exp(-0.25 * fatigue - 0.12 * d.night + NOISE["hrv"] * e[:, 3])
    physiology = Physiology(
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


def ewma_before(load: np.ndarray, start: float, alpha: float = 0.5) -> np.ndarray:
    """Exponentially weighted mean of the previous days' load (`start` stands for the past)."""
    n = load.shape[0]
    k = np.arange(1, min(n, 40) + 1)
    w = (1.0 - alpha) * alpha ** (k - 1)  # weight of the day k days back (40 days is plenty)
    out = np.full(n, start * alpha ** min(n, 40))
    out[: min(n, 40)] = start * alpha ** np.arange(min(n, 40))
    out[1:] += np.convolve(load, w)[: n - 1]
    return out
