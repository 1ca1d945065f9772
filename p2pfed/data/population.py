"""The synthetic population's fixed definition: archetypes, workouts, features and their priors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Labelling tasks: "activity" (the day's activity level) and "risk" (the day's health-risk class).
TASKS: tuple[str, ...] = ("activity", "risk")
LABEL_NAMES: tuple[str, ...] = ("sedentary", "light", "moderate", "vigorous")
N_CLASSES = len(LABEL_NAMES)
RISK_LABEL_NAMES: tuple[str, ...] = ("low", "elevated", "high")
N_RISK_CLASSES = len(RISK_LABEL_NAMES)
#: Activity-load class boundaries in MET-minutes above rest per day.
LOAD_THRESHOLDS: tuple[float, float, float] = (180.0, 350.0, 650.0)

#: Kcal per MET-minute above rest per kg of body weight (1 MET = 3.5 ml O2/kg/min, 5 kcal/l O2).
KCAL_PER_METMIN_KG = 3.5 / 200.0
#: MET-minutes above rest per 1000 everyday steps (about 10 minutes at ~3.5 MET).
METMIN_PER_KSTEPS = 25.0
AWAKE_MINUTES = 960.0


@dataclass(frozen=True)
class WorkoutType:
    """A kind of workout: typical effort and steps per minute."""

    name: str
    hrr: float  # typical effort, as a fraction of the heart-rate reserve
    steps_per_min: float
    light: bool  # may fill a light day


WORKOUT_TYPES: tuple[WorkoutType, ...] = (
    WorkoutType("run", 0.74, 160.0, False),
    WorkoutType("cycle", 0.66, 0.0, False),
    WorkoutType("strength", 0.50, 15.0, True),
    WorkoutType("walk", 0.36, 110.0, True),
    WorkoutType("swim", 0.62, 0.0, False),
    WorkoutType("yoga", 0.26, 5.0, True),
)
WT_HRR = np.array([w.hrr for w in WORKOUT_TYPES])
WT_SPM = np.array([w.steps_per_min for w in WORKOUT_TYPES])


@dataclass(frozen=True)
class Archetype:
    """Population prior of one kind of user; each user's traits are drawn around it."""

    name: str
    description: str
    age: tuple[float, float]  # uniform age range, years
    rhr: float  # mean resting heart rate, bpm
    hrv: float  # median HRV (RMSSD), ms
    vo2max: float  # median aerobic capacity, METs
    steps: float  # median everyday (non-workout) steps on a workout day
    sleep_h: float  # mean sleep duration, hours
    sleep_eff: float  # mean sleep efficiency, fraction of time in bed asleep
    levels: tuple[float, float, float, float]  # share of sedentary/light/moderate/vigorous days
    mix: tuple[float, ...]  # workout-type mix, in WORKOUT_TYPES order
    week: tuple[float, ...] = (1.0,) * 7  # odds of a workout day by weekday, Monday..Sunday
    weekend_hard: float = 1.0  # odds of a vigorous day on Saturday and Sunday
    light_workout: float = 0.3  # chance that a light day includes a light workout
    shift: bool = False  # rotating roster: 2 day shifts, 2 night shifts, 4 days off


#: The six archetypes (fields as in Archetype), one row each in four tables keyed by name, dealt in
#: this order. Body: age range (years), mean resting HR (bpm), median HRV (ms), median VO2max
#: (METs), median everyday steps, mean sleep (h) and sleep efficiency.
_BODIES: dict[str, tuple] = {
    #               age       rhr hrv  vo2max  steps  sleep_h  sleep_eff
    "runner":       ((20, 50), 52, 72, 14.5,   7500,  7.4,     0.90),
    "cyclist":      ((22, 58), 55, 62, 13.5,   5200,  7.3,     0.89),
    "gym_goer":     ((18, 45), 62, 52, 11.5,   7000,  7.1,     0.88),
    "sedentary":    ((25, 60), 73, 30, 8.5,    3400,  6.8,     0.85),
    "shift_worker": ((22, 55), 68, 38, 10.0,   6500,  6.6,     0.84),
    "older_adult":  ((65, 85), 69, 24, 7.0,    4300,  6.9,     0.82),
}
#: Days: shares of sedentary / light / moderate / vigorous days, and the workout-type mix in
#: WORKOUT_TYPES order (run, cycle, strength, walk, swim, yoga).
_DAYS: dict[str, tuple] = {
    #               levels                     mix
    "runner":       ((0.04, 0.16, 0.36, 0.44), (0.80, 0.04, 0.08, 0.04, 0.02, 0.02)),
    "cyclist":      ((0.06, 0.20, 0.32, 0.42), (0.04, 0.82, 0.06, 0.04, 0.02, 0.02)),
    "gym_goer":     ((0.10, 0.32, 0.44, 0.14), (0.10, 0.08, 0.66, 0.06, 0.05, 0.05)),
    "sedentary":    ((0.62, 0.32, 0.05, 0.01), (0.05, 0.08, 0.07, 0.65, 0.0, 0.15)),
    "shift_worker": ((0.24, 0.46, 0.22, 0.08), (0.15, 0.12, 0.22, 0.38, 0.03, 0.10)),
    "older_adult":  ((0.34, 0.50, 0.15, 0.01), (0.0, 0.08, 0.04, 0.62, 0.10, 0.16)),
}
#: Routine: where it differs from Archetype's defaults (week, weekend_hard, light_workout, shift).
_ROUTINES: dict[str, dict[str, Any]] = {
    "runner": {"week": (1.0, 1.2, 1.0, 1.2, 0.5, 1.0, 1.0), "weekend_hard": 2.5},
    "cyclist": {"week": (0.8, 1.0, 1.0, 1.0, 0.6, 1.5, 1.5), "weekend_hard": 3.0},
    "gym_goer": {"week": (3.0, 0.4, 3.0, 0.4, 3.0, 0.8, 0.3)},
    "sedentary": {"week": (0.8, 0.8, 0.8, 0.8, 0.8, 1.6, 1.6), "light_workout": 0.15},
    "shift_worker": {"light_workout": 0.15, "shift": True},
    "older_adult": {"light_workout": 0.6},
}
#: Who they are, in words.
_DESCRIPTIONS: dict[str, str] = {
    "runner": "Fit endurance runner: low resting HR, high HRV, runs most days with a long weekend "
    "run; mostly moderate and vigorous days, rarely sedentary ones.",
    "cyclist": "Road cyclist: fit, rides most days and long at weekends, but cycling burns energy "
    "without steps, so steps say little about the day.",
    "gym_goer": "Gym-goer: strength sessions on fixed weekdays plus some cardio; moderate effort, few "
    "workout steps; mostly light and moderate days.",
    "sedentary": "Office worker who rarely exercises: high resting HR, low HRV, few steps; mostly "
    "sedentary and light days, almost never vigorous.",
    "shift_worker": "Nurse on a rotating 8-day roster (2 day shifts, 2 night shifts, 4 off): light but "
    "busy shifts on their feet, short and poor sleep after nights, workouts on days off.",
    "older_adult": "Retired adult aged 65-85: low maximum HR and fitness, daily walks, yoga or a swim; "
    "mostly sedentary and light days.",
}
ARCHETYPES: dict[str, Archetype] = {
    name: Archetype(name, _DESCRIPTIONS[name], *body, *_DAYS[name], **_ROUTINES[name])
    for name, body in _BODIES.items()
}
#: Shift-worker day kinds (day shift, night shift, day off): odds multipliers of each level.
SHIFT_ODDS = np.array([[1.0, 2.5, 0.4, 0.3], [2.5, 1.0, 0.3, 0.2], [1.0, 0.8, 1.6, 1.6]])
SHIFT_ROSTER = np.array([0, 0, 1, 1, 2, 2, 2, 2])  # D D N N O O O O


@dataclass(frozen=True)
class Feature:
    """One daily feature: unit, meaning and the fixed population prior used to scale it."""

    name: str
    unit: str
    mean: float  # prior population mean (part of the generator definition)
    std: float  # prior population spread (part of the generator definition)
    description: str
    log: bool = False  # scale ln(1 + x) instead of x (mean and std are then of ln(1 + x))


FEATURES: tuple[Feature, ...] = (
    Feature("age", "years", 45.0, 17.0, "age of the user (profile, constant per user)"),
    Feature("weight", "kg", 4.33, 0.17, "body weight (profile, constant per user)", log=True),
    Feature("vo2max_est", "ml/kg/min", 38.0, 10.0, "the watch's daily VO2max estimate"),
    Feature("resting_hr", "bpm", 64.0, 9.5, "resting heart rate, measured overnight"),
    Feature("hrv_rmssd", "ms", 48.0, 24.0, "overnight heart-rate variability (RMSSD)"),
    Feature("sleep_hours", "h", 6.9, 0.9, "sleep duration of the night before"),
    Feature("sleep_efficiency", "fraction", 0.86, 0.05, "time asleep / time in bed"),
    Feature("steps", "steps", 8.8, 0.65, "step count of the day", log=True),
    Feature("active_minutes", "min", 3.5, 1.1, "minutes above ~3 METs, from HR and motion", log=True),
    Feature("workout_minutes", "min", 2.0, 2.1, "length of the logged workout (0 if none)", log=True),
    Feature("mean_hr", "bpm", 78.5, 9.0, "mean heart rate while awake"),
    Feature("max_hr", "bpm", 128.0, 24.5, "highest heart rate of the day"),
    Feature("active_calories", "kcal", 6.0, 0.8, "energy burnt above rest", log=True),
    *(
        Feature(f"workout_{w.name}", "0/1", 0.1, 0.3, f"the logged workout was {w.name}")
        for w in WORKOUT_TYPES
    ),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
N_FEATURES = len(FEATURES)
_F_MEAN = np.array([f.mean for f in FEATURES])
_F_STD = np.array([f.std for f in FEATURES])
_F_LOG = np.array([f.log for f in FEATURES])

#: Measurement-noise scales (multiplied by SyntheticConfig.feature_noise).
NOISE: dict[str, float] = {
    "step_bias": 0.08,  # per-user device step-count calibration (log sd)
    "cal_bias": 0.06,  # per-user device calorie calibration (log sd)
    "vo2_bias": 0.04,  # per-user VO2max-estimate bias (log sd)
    "sleep": 0.3,  # h
    "sleep_eff": 0.015,
    "rhr": 1.5,  # bpm
    "hrv": 0.15,  # log sd
    "steps": 0.05,  # log sd
    "active_frac": 0.3,  # log sd of the brisk share of everyday steps
    "active": 5.0,  # min
    "workout_min": 0.05,  # log sd
    "mean_hr": 1.5,  # bpm
    "max_hr": 0.04,  # fraction of heart-rate reserve
    "calories": 0.05,  # log sd
    "vo2": 0.03,  # log sd, day to day
}
#: Spread of personal traits around the archetype's prior (sd; "log" ones are log sd).
SPREAD: dict[str, float] = {
    "hr_max": 5.0,  # bpm around 208 - 0.7 * age
    "rhr": 4.0,  # bpm
    "hrv": 0.25,  # log
    "vo2max": 0.10,  # log
    "weight": 0.17,  # log, around 75 kg
    "steps": 0.25,  # log, everyday steps
    "effort": 0.04,  # fraction of heart-rate reserve: how hard they train
    "levels": 30.0,  # Dirichlet concentration of the personal level shares (higher: closer)
    "mix": 40.0,  # Dirichlet concentration of the personal workout-type mix
}
#: Hidden day-to-day variation of the activity load that no feature measures directly.
CHORES_METMIN = 30.0  # median MET-minutes of chores, standing and fidgeting
CHORES_SD = 0.3  # their log sd
#: A day of level k aims at a load around LEVEL_LOAD[k] (log sd LEVEL_SD); the label is then
#: computed from the load the day's behaviour actually produced.
LEVEL_LOAD: tuple[float, float, float, float] = (105.0, 250.0, 480.0, 920.0)
LEVEL_SD = 0.12
LIGHT_TYPES = np.array([w.light for w in WORKOUT_TYPES], dtype=float)


def scale(raw: np.ndarray) -> np.ndarray:
    """Raw measurements (days, N_FEATURES) -> model features, by the fixed FEATURES priors."""
    x = np.where(_F_LOG, np.log1p(np.maximum(raw, 0.0)), raw)
    return ((x - _F_MEAN) / _F_STD).astype(np.float32)


def unscale(X: np.ndarray) -> np.ndarray:
    """Inverse of `scale`: model features back to raw measurements (float64)."""
    x = X.astype(np.float64) * _F_STD + _F_MEAN
    return np.where(_F_LOG, np.expm1(x), x)


@dataclass(frozen=True)
class RiskModel:
    """Weights of the daily health-risk score (points; higher = worse) and its class boundaries.

    A day's score adds a *chronic* part, fixed per person (age, body weight, fitness and baseline
    resting HR relative to population reference values), a *habitual* part (the person's activity
    load over the past weeks) and an *acute* part (today's resting HR above and HRV below the
    person's own baseline, and short or poor sleep): the signs of strain, illness or overreaching
    that wearables use for readiness and health alerts. The score is computed from the true
    physiology, before the wearable's measurement noise; the class is 0 low below
    ``thresholds[0]``, 1 elevated, 2 high from ``thresholds[1]``.
    """

    age: float = 0.015  # per year above `age_ref`
    age_ref: float = 45.0
    weight: float = 1.0  # per unit of ln(weight / 75 kg)
    fitness: float = 0.15  # per MET of VO2max below `vo2_ref`
    vo2_ref: float = 10.5
    rhr: float = 0.03  # per bpm of baseline resting HR above `rhr_ref`
    rhr_ref: float = 64.0
    habit: float = 0.5  # per unit of ln(`load_ref` / past weeks' mean daily load)
    load_ref: float = 350.0  # MET-minutes above rest per day
    habit_memory: float = 0.93  # daily decay of the past-weeks' load average (~10-day half-life)
    rhr_up: float = 0.25  # per bpm of today's resting HR above the personal baseline
    hrv_down: float = 2.5  # per unit of ln(personal baseline HRV / today's HRV)
    short_sleep: float = 0.7  # per hour of sleep below `sleep_ref`
    sleep_ref: float = 7.0
    poor_sleep: float = 8.0  # per unit of sleep efficiency below `eff_ref`
    eff_ref: float = 0.85
    #: Class boundaries, set so that the default population has about 38 % low, 37 % elevated
    #: and 25 % high days; runners are ~93 % low, older adults ~69 % high (see the tests).
    thresholds: tuple[float, float] = (-0.4, 1.5)


RISK = RiskModel()
